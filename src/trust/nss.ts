/**
 * SystemTap's NSS trust databases, driven with `certutil`.
 *
 * Every operation is a POSIX `sh` script fed on stdin (`sh -s`), so the very same text runs locally
 * (execa) and on a client host over SSH (`Connection.run('sh -s', { stdin })`, with sudo when root is
 * needed). Scripts carry certificates as PEM (base64 charset only) and fingerprints as hex; the only
 * free-form strings (directory paths) always go through shQuote. Scripts print `@@`-prefixed records
 * (certutil's raw listings among them) that parseScriptOutput() turns back into typed state, so the
 * controller verifies by reading the databases.
 *
 * Every process a script starts is CPU that each client of a fleet pays, on hosts that may share cores:
 * the enrollment path starts one certutil listing per database and stap or one certutil batch, and
 * nothing else on the common paths (test/trust/nss.test.ts counts them).
 *
 * Several certificates share the nickname `stap-server` in one database (NSS groups them by subject), and
 * `certutil -D -n` deletes just one "best" match, so revoking exports every certificate first, deletes
 * them all in a staging copy of the database, re-adds the ones to keep with their own trust flags, then
 * renames the staged key4.db and cert9.db over the originals (NSS MAC-protects trust records with metadata
 * in key4.db, so both must move; a reader sees an old or new file, never a half-written one).
 */
import { createHash } from 'node:crypto';
import { execa } from 'execa';

export type TrustDbKind = 'ssl-user' | 'ssl-all-users' | 'signer';

export const SERVER_NICKNAME = 'stap-server';
export const PEER_TRUST = 'P,P,P';
export const ALL_USERS_SSL_DIR = '/etc/systemtap/ssl/client';
export const SIGNER_DIR = '/etc/systemtap/staprun';

/** Where a database lives; `dir` undefined for ssl-user means "resolve on the host" like stap does. */
export interface TrustDbRef {
  kind: TrustDbKind;
  dir?: string;
}

export interface TrustedCert {
  certinfo: string;
  /** SHA-256 of the DER, lowercase hex without separators. */
  sha256: string;
  /** certutil trust string, e.g. "P,P,P"; undefined when certutil did not show it. */
  trust?: string;
  subject?: string;
  notAfter?: Date;
}

export interface DbState {
  kind: TrustDbKind;
  /** Absolute directory as resolved on the host. */
  dir: string;
  exists: boolean;
  /** Directory mode (octal string) and owner uid, when it exists. */
  mode?: string;
  uid?: number;
  certs: TrustedCert[];
  /** Problem reading the database (certutil error text). */
  error?: string;
}

/** One certificate operation reported by an apply script. */
export interface DbEvent {
  kind: TrustDbKind;
  dir: string;
  op: 'added' | 'add-failed' | 'revoked' | 'created' | 'perms-fixed' | 'error';
  sha256?: string;
  method?: 'stap' | 'certutil';
  detail?: string;
}

export interface ScriptOutput {
  states: DbState[];
  events: DbEvent[];
  /** Host-level problem (no certutil, not root, ...). */
  errors: string[];
}

// ---------------------------------------------------------------------------------------------------
// Pure helpers

/** Single-quotes a string for POSIX sh (works for any bytes except NUL). */
export function shQuote(s: string): string {
  if (s.includes('\0')) throw new Error('NUL byte in a shell argument');
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(argv: string[]): string {
  return argv.map(shQuote).join(' ');
}

export function sha256Hex(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

export function pemBlocksToDer(text: string): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(text); m; m = re.exec(text)) out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  return out;
}

const TRUST_RE = /^[pPcCTuwgI]*,[pPcCTuwgI]*,[pPcCTuwgI]*$/;
export function isTrustString(s: string): boolean {
  return TRUST_RE.test(s);
}

/** certutil's words for one trust category ("Terminal Record", "Trusted", ...) back to its letters. */
export function trustLettersOf(words: string[]): string {
  const w = new Set(words.map((x) => x.trim()));
  let s = '';
  if (w.has('Trusted CA')) s += 'C';
  else if (w.has('Trusted Client CA')) s += 'T';
  else if (w.has('Valid CA')) s += 'c';
  if (w.has('Trusted')) s += 'P';
  else if (w.has('Terminal Record')) s += 'p';
  if (w.has('User')) s += 'u';
  if (w.has('Warn When Sending')) s += 'w';
  if (w.has('Step-up')) s += 'g';
  return s;
}

/** certinfo from certutil's "Serial Number:" text: inline "3 (0x3)" or hex pairs on the next line. */
export function certinfoFromSerialText(inline: string, next: string): string | undefined {
  const m = /\(0x([0-9a-fA-F]+)\)/.exec(inline);
  if (m) {
    let hex = m[1]!.toLowerCase().replace(/^0+(?=.)/, '');
    if (hex.length % 2) hex = '0' + hex;
    if (parseInt(hex[0]!, 16) >= 8) hex = '00' + hex; // DER sign byte
    return hex.match(/../g)!.join(':');
  }
  const pairs = next.trim().toLowerCase();
  return /^[0-9a-f]{2}(:[0-9a-f]{2})*$/.test(pairs) ? pairs : undefined;
}

export interface CertDetail {
  certinfo: string;
  trust: string;
  subject?: string;
}

const SERIAL_LINE = /^[ \t]*(Serial Number:[^\n]*)\n?([^\n]*)/m;
const SHA256_LINE = /^[ \t]*Fingerprint \(SHA-256\):[ \t]*([^\n]*)\n?([^\n]*)/m;
const SUBJECT_LINE = /^[ \t]*Subject:([^\n]*)/m;
const TRUST_HEADER = /^[ \t]*Certificate Trust Flags:[ \t]*$/m;

/**
 * Per-certificate certinfo, trust and subject from `certutil -L -n <nick>` text, keyed by SHA-256 (hex).
 * The listing comes raw from every client (key and signature hex dumps included): a few anchored searches
 * per certificate instead of a pass over every line keep the controller's share per client small.
 */
export function parseCertutilDetails(text: string): Map<string, CertDetail> {
  const out = new Map<string, CertDetail>();
  for (const block of text.split(/^Certificate:\s*$/m).slice(1)) {
    const fp = SHA256_LINE.exec(block);
    const sha = fp ? (fp[1]!.trim() || fp[2]!.trim()).replace(/:/g, '').toLowerCase() : '';
    if (!/^[0-9a-f]{64}$/.test(sha)) continue;
    const serial = SERIAL_LINE.exec(block);
    const certinfo = serial ? certinfoFromSerialText(serial[1]!.trim(), serial[2]!) : undefined;
    const subj = SUBJECT_LINE.exec(block);
    const subject = subj ? subj[1]!.trim().replace(/^"|"$/g, '') : undefined;
    const cats: Record<string, string[]> = {};
    const th = TRUST_HEADER.exec(block);
    if (th) {
      let cat: string | undefined;
      for (const line of block.slice(th.index + th[0].length).split('\n')) {
        const t = line.trim();
        if (/^(SSL|Email|Object Signing) Flags:$/.test(t)) cats[(cat = t)] = [];
        else if (cat && t !== '') cats[cat]!.push(t);
      }
    }
    const trust = ['SSL Flags:', 'Email Flags:', 'Object Signing Flags:'].map((c) => trustLettersOf(cats[c] ?? [])).join(',');
    out.set(sha, { certinfo: certinfo ?? 'unknown', trust, subject });
  }
  return out;
}

/** Parses the `@@` records of any script built below. */
export function parseScriptOutput(stdout: string): ScriptOutput {
  const states: DbState[] = [];
  const events: DbEvent[] = [];
  const errors: string[] = [];
  const lines = stdout.split('\n');
  let cur: DbState | undefined;
  let section: 'detail' | undefined;
  let detail: string[] = [];
  const flush = (): void => {
    if (!cur) return;
    cur.certs = [...parseCertutilDetails(detail.join('\n'))].map(([sha256, d]) => ({ sha256, ...d }));
    states.push(cur);
    cur = undefined;
    section = undefined;
    detail = [];
  };
  for (const line of lines) {
    if (!line.startsWith('@@')) {
      if (section === 'detail') detail.push(line);
      continue;
    }
    const [tag, ...rest] = line.split(' ');
    switch (tag) {
      case '@@STATE': {
        flush();
        const [kind, ...dirParts] = rest;
        cur = { kind: kind as TrustDbKind, dir: dirParts.join(' '), exists: false, certs: [] };
        break;
      }
      case '@@PRESENT':
        if (cur) {
          cur.exists = true;
          // Mode and owner are read for the root databases only (the per-user one needs no check).
          if (rest[0]) cur.mode = rest[0];
          if (rest[1]) cur.uid = Number(rest[1]);
        }
        break;
      case '@@DBERROR':
        if (cur) cur.error = rest.join(' ');
        break;
      case '@@SAME': {
        // Nothing changed in this database since the dump before: its state is that one.
        flush();
        const prev = states.find((x) => x.kind === rest[0]);
        if (prev) states.push({ ...prev, certs: prev.certs.map((c) => ({ ...c })) });
        break;
      }
      case '@@DETAIL':
        section = 'detail';
        break;
      case '@@ENDSTATE':
        flush();
        break;
      case '@@EVENT': {
        // @@EVENT <op> <kind> <sha256|-> <method|-> <dir...>  (detail after a tab)
        const [op, kind, sha, method, ...dirParts] = rest;
        const [dir, detailText] = dirParts.join(' ').split('\t');
        events.push({
          op: op as DbEvent['op'],
          kind: kind as TrustDbKind,
          sha256: sha && sha !== '-' ? sha : undefined,
          method: method === 'stap' || method === 'certutil' ? method : undefined,
          dir: dir ?? '',
          detail: detailText || undefined,
        });
        break;
      }
      case '@@ERROR':
        errors.push(rest.join(' '));
        break;
      default:
        break;
    }
  }
  flush();
  return { states, events, errors };
}

// ---------------------------------------------------------------------------------------------------
// Script building

/** Shell expression for a database's directory (the ssl-user default is resolved on the host). */
export function dirExpr(db: TrustDbRef): string {
  if (db.dir !== undefined) return shQuote(db.dir);
  switch (db.kind) {
    case 'ssl-all-users':
      return shQuote(ALL_USERS_SSL_DIR);
    case 'signer':
      return shQuote(SIGNER_DIR);
    case 'ssl-user':
      // Same rule as stap: $SYSTEMTAP_DIR/ssl/client, else ~/.systemtap/ssl/client.
      return '"${SYSTEMTAP_DIR:-$HOME/.systemtap}/ssl/client"';
  }
}

/** Whether a database kind needs root on the client. */
export function needsRoot(kind: TrustDbKind): boolean {
  return kind !== 'ssl-user';
}

/** stap's --trust-servers spec that writes a given database kind. */
export function stapTrustSpec(kind: TrustDbKind): string {
  return kind === 'signer' ? 'signer' : kind === 'ssl-all-users' ? 'ssl,all-users' : 'ssl';
}

const PRELUDE = `
set -u
set -f
umask 022
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
command -v certutil >/dev/null 2>&1 || { echo "@@ERROR certutil not found (install libnss3-tools)"; exit 69; }
T=
# tmp: a private temporary directory, made on first use (enrolling through stap, reading and a repeated
# run need none: every process less is CPU saved on each client)
tmp() {
  [ -n "$T" ] && return 0
  T=$(mktemp -d "\${TMPDIR:-/tmp}/stap-fleet-trust.XXXXXX") || { echo "@@ERROR cannot create a temporary directory"; exit 70; }
  trap 'rm -rf "$T"' EXIT
}
# list DIR: L = certutil's details of every stap-server certificate in DIR (empty when none), E = error text.
# One certutil process; the shell matches fingerprints in L itself (no grep/awk).
list() {
  L= E=
  [ -f "$1/cert9.db" ] || return 0
  if ! L=$(certutil -L -d "sql:$1" -n stap-server 2>&1); then
    case $L in *"Could not find cert"*) ;; *) E=$L ;; esac
    L=
  fi
}
# show KIND DIR: the last listing as @@ records; the controller parses serial, SHA-256 and trust from it
show() {
  printf '@@STATE %s %s\\n' "$1" "$2"
  if [ -f "$2/cert9.db" ]; then
    if [ "$1" = ssl-user ]; then printf '@@PRESENT\\n'; else printf '@@PRESENT %s\\n' "$(stat -c '%a %u' "$2")"; fi
    if [ -n "$E" ]; then printf '@@DBERROR %s\\n' "$(printf '%s' "$E" | tr '\\n' ' ')"; else printf '@@DETAIL\\n%s\\n' "$L"; fi
  fi
  printf '@@ENDSTATE\\n'
}
CH=0
event() { case "$1" in error|add-failed) ;; *) CH=1 ;; esac; printf '@@EVENT %s %s %s %s %s\\t%s\\n' "$1" "$2" "$3" "$4" "$5" "\${6:-}"; }
oneline() { printf '%s' "$1" | tr '\\n' ' '; }
# split_pems FILE PREFIX: one base64 file per PEM block, PREFIX.N.b64; prints N
split_pems() {
  awk -v p="$2" '{sub(/\\r$/,"")} /-----BEGIN CERTIFICATE-----/{n++; f=p "." n ".b64"; next} /-----END CERTIFICATE-----/{f=""; next} f!=""{print > f} END{print n+0}' "$1"
}
# ensure_db KIND DIR [create]: the directory (and with create the empty database) like stap makes them;
# signer/all-users directories root-owned and not group/other-writable
ensure_db() {
  if [ ! -d "$2" ]; then
    mkdir -p "$2" || { event error "$1" - - "$2" "cannot create directory"; return 1; }
  fi
  if [ "$1" != ssl-user ]; then
    set -- "$1" "$2" "\${3:-}" "$(stat -c '%a %u' "$2")"
    mode=\${4% *}; uid=\${4#* }
    if [ "$uid" != 0 ] || [ $(( 0$mode & 022 )) -ne 0 ]; then
      chown root "$2" && chmod go-w "$2" && event perms-fixed "$1" - - "$2" "was mode $mode uid $uid"
    fi
  fi
  if [ ! -f "$2/cert9.db" ] && [ "\${3:-}" = create ]; then
    X=$(certutil -N --empty-password -d "sql:$2" 2>&1) || { event error "$1" - - "$2" "certutil -N: $(oneline "$X")"; return 1; }
    chmod 644 "$2"/cert9.db "$2"/key4.db 2>/dev/null
    event created "$1" - - "$2"
  fi
  return 0
}
`;

/** Script that only reads the given databases (one certutil per existing database). */
export function buildInspectScript(dbs: TrustDbRef[]): string {
  return PRELUDE + dbs.map((db) => `D=${dirExpr(db)}; list "$D"; show ${db.kind} "$D"\n`).join('');
}

export interface AddItem {
  der: Buffer;
  /** "addr:port" stap may contact to add trust itself (method stap/auto); omitted = certutil only. */
  useServer?: string;
}

export interface ApplyDbPlan {
  db: TrustDbRef;
  add: AddItem[];
  /** SHA-256 (hex) of the certificates to remove. */
  revoke: string[];
  /** Trust strings of certificates present before, to restore the kept ones exactly. */
  trustBySha?: Record<string, string>;
  /** Create the database / fix modes even with nothing to add. */
  ensure?: boolean;
}

export interface ApplyOptions {
  /** auto: stap where installed (falls back to certutil), certutil: certutil only. */
  method: 'auto' | 'certutil';
  /**
   * Show every database before changing it too (one round trip for enrollment: the script itself skips
   * what is present; the caller reads before and after states).
   */
  dumpBefore?: boolean;
  /** Seconds allowed to one `stap --trust-servers` run. */
  stapTimeoutSec?: number;
}

function checkHex(s: string): string {
  if (!/^[0-9a-f]{64}$/.test(s)) throw new Error(`not a SHA-256 hex digest: ${s}`);
  return s;
}

function checkUseServer(s: string): string {
  if (!/^(\[[0-9a-fA-F:.%a-zA-Z0-9]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(s)) throw new Error(`not an address:port: ${s}`);
  return s;
}

/** A SHA-256 (hex) as certutil prints it ("AB:CD:..."), what the shell looks for in a listing. */
export function certutilFingerprint(sha256: string): string {
  return checkHex(sha256).toUpperCase().match(/../g)!.join(':');
}

function revokeBlock(p: ApplyDbPlan, pi: number, d: string): string {
  const revoke = p.revoke.map(checkHex).join(' ');
  const trustTable = Object.entries(p.trustBySha ?? {})
    .filter(([sha, t]) => /^[0-9a-f]{64}$/.test(sha) && isTrustString(t))
    .map(([sha, t]) => `${sha} ${t}`)
    .join('\n');
  return String.raw`
  if [ -f "$${d}/cert9.db" ]; then
    tmp; RD=1
    S=$(mktemp -d "$${d}/.stap-fleet-revoke.XXXXXX") && cp -p "$${d}/cert9.db" "$${d}/key4.db" "$S/" && ok=1 || ok=0
    cat >"$T/trust${pi}" <<'STAP_FLEET_EOF'
${trustTable}
STAP_FLEET_EOF
    if [ $ok = 1 ]; then
      certutil -L -d "sql:$S" -n stap-server -a >"$T/all${pi}.pem" 2>/dev/null
      n=$(split_pems "$T/all${pi}.pem" "$T/all${pi}")
      # delete every stap-server certificate in the staging copy (bounded), then re-add the kept ones
      k=0; while [ $k -le $((n+1)) ] && certutil -L -d "sql:$S" -n stap-server >/dev/null 2>&1; do
        certutil -D -d "sql:$S" -n stap-server 2>/dev/null || break; k=$((k+1)); done
      if certutil -L -d "sql:$S" -n stap-server >/dev/null 2>&1; then ok=0; event error ${p.db.kind} - - "$${d}" "could not delete from staging copy"; fi
      i=1; while [ $ok = 1 ] && [ "$i" -le "$n" ]; do
        base64 -d "$T/all${pi}.$i.b64" >"$T/c.der"; fp=$(sha256sum <"$T/c.der" | cut -d' ' -f1)
        case " ${revoke} " in
          *" $fp "*) event revoked ${p.db.kind} "$fp" certutil "$${d}" ;;
          *) tr=$(awk -v f="$fp" '$1==f{print $2}' "$T/trust${pi}"); [ -n "$tr" ] || tr=P,P,P
             certutil -A -n stap-server -t "$tr" -i "$T/c.der" -d "sql:$S" 2>"$T/err" || { ok=0; event error ${p.db.kind} "$fp" - "$${d}" "re-adding kept certificate: $(tr '\n' ' ' <"$T/err")"; } ;;
        esac
        i=$((i+1))
      done
      # trust records are MAC-protected with metadata kept in key4.db: both files move, key4.db first
      if [ $ok = 1 ]; then chmod 644 "$S/cert9.db" "$S/key4.db"; mv -f "$S/key4.db" "$${d}/key4.db" && mv -f "$S/cert9.db" "$${d}/cert9.db" || event error ${p.db.kind} - - "$${d}" "cannot replace the database files"; fi
    fi
    rm -rf "$S"
    list "$${d}"
  fi
`;
}

/**
 * Adding to one database. The listing in L (read before) tells what is missing; the client's stap gets
 * every missing server in one run, one listing tells what it added, and one `certutil -B` batch adds the
 * rest from the collected certificates. On the usual paths that is one stap or one certutil -B, plus the
 * one listing that verifies; no grep, awk, cat or temporary files besides the batch's.
 */
function addBlock(p: ApplyDbPlan, d: string, stapTimeout: number, method: ApplyOptions['method']): string {
  const kind = p.db.kind;
  const items = p.add.map((item, ai) => {
    const sha = sha256Hex(item.der);
    return { ai, sha, fp: certutilFingerprint(sha), pem: derToPem(item.der), useServer: item.useServer && method === 'auto' ? checkUseServer(item.useServer) : undefined };
  });
  const out: string[] = [];
  out.push(`  US=; R=\n`);
  for (const it of items) {
    const us = it.useServer ? ` US="$US --use-server=${it.useServer}";` : '';
    out.push(`  case $L in *"${it.fp}"*) A${it.ai}=0 ;; *) A${it.ai}=1; R=1;${us} ;; esac\n`);
  }
  const root = needsRoot(kind) || p.ensure;
  out.push(`  if [ -n "$R" ]${root ? ` && ensure_db ${kind} "$${d}"` : ''}; then\n`);
  if (items.some((it) => it.useServer)) {
    // stap --trust-servers writes the same database (same SYSTEMTAP_DIR rule, same nickname and trust).
    const env =
      kind === 'ssl-user' && p.db.dir !== undefined && p.db.dir.endsWith('/ssl/client') ? `SYSTEMTAP_DIR=${shQuote(p.db.dir.slice(0, -'/ssl/client'.length))} ` : '';
    out.push(`    if [ -n "$US" ] && [ $HAVE_STAP = 1 ]; then\n`);
    out.push(`      RD=1; ${env}timeout ${stapTimeout} stap --trust-servers=${stapTrustSpec(kind)},no-prompt $US </dev/null >/dev/null 2>&1\n`);
    out.push(`      list "$${d}"; R=${needsRoot(kind) ? `; chmod 644 "$${d}/cert9.db" "$${d}/key4.db" 2>/dev/null` : ''}\n`);
    for (const it of items) {
      out.push(`      if [ $A${it.ai} = 1 ]; then case $L in *"${it.fp}"*) A${it.ai}=0; event added ${kind} ${it.sha} stap "$${d}" ;; *) R=1 ;; esac; fi\n`);
    }
    out.push(`    fi\n`);
  }
  // Whatever is still missing: one certutil batch from the collected certificates (relative paths: the
  // batch is split on blanks and $T may hold some). certutil reads certificates by file size, so they are
  // files, written by the shell's printf.
  out.push(`    if [ -n "$R" ]; then\n`);
  out.push(`      RD=1; tmp; [ -d "$${d}" ] || mkdir -p "$${d}"; NEWC=0; [ -f "$${d}/cert9.db" ] || NEWC=1; : >"$T/batch"\n`);
  for (const it of items) {
    out.push(`      if [ $A${it.ai} = 1 ]; then printf '%s' '${it.pem}' >"$T/${it.ai}.pem"; echo '-A -n stap-server -t P,P,P -a -i ${it.ai}.pem' >>"$T/batch"; fi\n`);
  }
  out.push(`      (cd "$T" && exec certutil -B -i batch -d "sql:$${d}") >/dev/null 2>&1\n`);
  out.push(`      list "$${d}"; RL=\n`);
  // A batch stops at its first failure: anything still missing is retried alone, for its own error text.
  for (const it of items) {
    out.push(
      `      if [ $A${it.ai} = 1 ]; then case $L in *"${it.fp}"*) event added ${kind} ${it.sha} certutil "$${d}" ;;\n` +
        `        *) RL=1; if X=$( (cd "$T" && exec certutil -A -n stap-server -t P,P,P -a -i ${it.ai}.pem -d "sql:$${d}") 2>&1); then event added ${kind} ${it.sha} certutil "$${d}"; else event add-failed ${kind} ${it.sha} certutil "$${d}" "$(oneline "$X")"; fi ;; esac; fi\n`,
    );
  }
  out.push(`      [ -z "$RL" ] || list "$${d}"\n`);
  // certutil makes its files 0600; stap's are 0644 (and the all-users database must be world-readable).
  out.push(`      [ $NEWC = 0 ] || chmod 644 "$${d}/cert9.db" "$${d}/key4.db" 2>/dev/null\n`);
  out.push(`    fi\n  fi\n`);
  return out.join('');
}

/**
 * Script that applies one client's plan (adds, revokes, database creation) and then shows every
 * database it touched, so the caller verifies from the databases' real contents.
 */
export function buildApplyScript(plans: ApplyDbPlan[], opts: ApplyOptions): string {
  const parts: string[] = [PRELUDE];
  const stapTimeout = Math.max(1, Math.floor(opts.stapTimeoutSec ?? 20));
  parts.push(`HAVE_STAP=0; [ ${opts.method === 'auto' ? 1 : 0} = 1 ] && command -v stap >/dev/null 2>&1 && HAVE_STAP=1\n`);
  // Every database is listed (and with dumpBefore shown) before anything changes.
  plans.forEach((p, pi) => {
    parts.push(`D${pi}=${dirExpr(p.db)}; list "$D${pi}"; L${pi}=$L; E${pi}=$E\n`);
    if (opts.dumpBefore) parts.push(`show ${p.db.kind} "$D${pi}"\n`);
  });
  plans.forEach((p, pi) => {
    const d = `D${pi}`;
    parts.push(`L=$L${pi}; E=$E${pi}; RD=0; NEWDB=0; [ -f "$${d}/cert9.db" ] || NEWDB=1\n`);
    if (p.ensure && p.add.length === 0) parts.push(`ensure_db ${p.db.kind} "$${d}" create && RD=1 && list "$${d}"\n`);
    if (p.revoke.length > 0) parts.push(revokeBlock(p, pi, d));
    if (p.add.length > 0) parts.push(addBlock(p, d, stapTimeout, opts.method));
    // (ensure_db reports the creation it does itself)
    if (!(p.ensure && p.add.length === 0)) parts.push(`if [ $NEWDB = 1 ] && [ -f "$${d}/cert9.db" ]; then event created ${p.db.kind} - - "$${d}"; fi\n`);
    // With a listing shown before, an untouched database is reported as that same state (no second read).
    parts.push(opts.dumpBefore ? `if [ $RD = 0 ]; then printf '@@SAME %s\\n' ${p.db.kind}; else show ${p.db.kind} "$${d}"; fi\n` : `show ${p.db.kind} "$${d}"\n`);
  });
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------------
// Local execution (execa): the same scripts, run on this host.

export async function runScriptLocally(script: string, opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<ScriptOutput & { exitCode: number; stderr: string }> {
  const r = await execa('sh', ['-s'], { input: script, reject: false, timeout: opts.timeoutMs ?? 60_000, env: opts.env });
  const parsed = parseScriptOutput(r.stdout);
  return { ...parsed, exitCode: r.exitCode ?? 1, stderr: r.stderr };
}

/** Reads one database. */
export async function readDb(db: TrustDbRef, opts: { env?: NodeJS.ProcessEnv } = {}): Promise<DbState> {
  const r = await runScriptLocally(buildInspectScript([db]), opts);
  if (r.errors.length) throw new Error(r.errors.join('; '));
  const s = r.states[0];
  if (!s) throw new Error(`no output from the inspection of ${db.dir ?? db.kind}: ${r.stderr}`);
  return s;
}

/** Adds certificates (trust P,P,P, nickname stap-server) that are not present yet; returns the events. */
export async function addCerts(db: TrustDbRef, ders: Buffer[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<ScriptOutput> {
  return runScriptLocally(buildApplyScript([{ db, add: ders.map((der) => ({ der })), revoke: [] }], { method: 'certutil' }), opts);
}

/** Removes exactly the certificates with the given certinfos, keeping the others with their trust. */
export async function revokeCerts(db: TrustDbRef, certinfos: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<ScriptOutput> {
  const state = await readDb(db, opts);
  const revoke = state.certs.filter((c) => certinfos.includes(c.certinfo)).map((c) => c.sha256);
  const trustBySha = Object.fromEntries(state.certs.filter((c) => c.trust).map((c) => [c.sha256, c.trust!]));
  if (revoke.length === 0) return { states: [state], events: [], errors: [] };
  return runScriptLocally(buildApplyScript([{ db, add: [], revoke, trustBySha }], { method: 'certutil' }), opts);
}
