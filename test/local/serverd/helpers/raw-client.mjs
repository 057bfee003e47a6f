// Raw TLS client for the hostile-request suite, run inside a LAN host with plain node:
//   node raw-client.mjs < {"host":..,"port":..,"cases":[{"name","payload"(base64),"endAfterWrite","timeoutMs"}]}
// Prints [{name, response (base64), closed, error, ms}] as JSON. No certificate check: it is an attacker.
import { connect } from 'node:tls';

const input = JSON.parse(await new Promise((ok) => {
  let s = '';
  process.stdin.setEncoding('utf8').on('data', (d) => (s += d)).on('end', () => ok(s));
}));

function one(c) {
  const t0 = performance.now();
  return new Promise((done) => {
    const chunks = [];
    let error;
    const sock = connect({ host: input.host, port: input.port, rejectUnauthorized: false }, () => {
      if (c.payload) sock.write(Buffer.from(c.payload, 'base64'));
      if (c.endAfterWrite) sock.end();
    });
    const timer = setTimeout(() => {
      sock.destroy();
      done({ name: c.name, response: Buffer.concat(chunks).toString('base64'), closed: false, error: 'client timeout', ms: performance.now() - t0 });
    }, c.timeoutMs ?? 20000);
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', (e) => (error = e.code ?? e.message));
    sock.on('close', () => {
      clearTimeout(timer);
      done({ name: c.name, response: Buffer.concat(chunks).toString('base64'), closed: true, error, ms: performance.now() - t0 });
    });
  });
}

const results = [];
if (input.parallel) results.push(...(await Promise.all(input.cases.map(one))));
else for (const c of input.cases) results.push(await one(c));
process.stdout.write(JSON.stringify(results));
