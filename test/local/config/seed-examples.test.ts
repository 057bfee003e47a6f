/** The seed's own examples (README.stap-server sections 4.3 and 6.6.1), verbatim. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_GLOBAL, parseGlobalConfig, parseServerConfig } from '../../../src/local/config/index.js';
import { expectSyntaxError, fakeDeps } from './helpers.js';

describe('seed 4.3.1 global config example', () => {
  const verbatim = 'CONFIG_PATH=~<user>/my-stap-server-configs\nLOG_FILE=/tmp/stap-server/log\n';

  it('verbatim, "<user>" is a placeholder that bash would read as a redirection: rejected at line 1', () => {
    expectSyntaxError(() => parseGlobalConfig(verbatim, 'stap-server', DEFAULT_GLOBAL, fakeDeps), 'stap-server', 1, "'<' is a redirection");
  });

  it('with a user name in place of <user>', () => {
    const g = parseGlobalConfig(verbatim.replace('<user>', 'serveruser'), 'stap-server', DEFAULT_GLOBAL, fakeDeps);
    expect(g).toEqual({
      CONFIG_PATH: '/home/serveruser/my-stap-server-configs',
      STAT_PATH: '/var/run/stap-server',
      LOG_FILE: '/tmp/stap-server/log',
      STAP_USER: 'stap-server',
    });
  });
});

describe('seed 4.3.2 server config examples', () => {
  it('file1.conf', () => {
    const text = 'ARCH=i386\nRELEASE=2.6.18-128.el5\nPORT=5001\nLOG=/path/to/log/file\n';
    expect(parseServerConfig(text, 'file1.conf', {}, fakeDeps)).toEqual({
      file: 'file1.conf',
      ARCH: 'i386',
      RELEASE: ['2.6.18-128.el5'],
      PORT: '5001',
      LOG: '/path/to/log/file',
      BUILD: [],
      INCLUDE: [],
      DEFINE: [],
      lines: { ARCH: 1, RELEASE: 2, PORT: 3, LOG: 4 },
    });
  });

  it('file2.conf', () => {
    const text = [
      'USER=serveruser',
      'RELEASE=/kernels/2.6.18-92.1.18.el5/build',
      'INCLUDE=/mytapsets',
      'INCLUDE+=/yourtapsets',
      "BUILD='VARIABLE1=VALUE1 VARIABLE2=VALUE2'",
      'DEFINE=STP_MAXMEMORY=1024',
      'DEFINE+=DEBUG_TRANS',
      'RUNTIME=/myruntime',
      'NICKNAME=my-server',
      'SSL=/path/to/NSS/certificate/database',
      '',
    ].join('\n');
    expect(parseServerConfig(text, 'file2.conf', {}, fakeDeps)).toEqual({
      file: 'file2.conf',
      USER: 'serveruser',
      RELEASE: ['/kernels/2.6.18-92.1.18.el5/build'],
      INCLUDE: ['/mytapsets', '/yourtapsets'],
      BUILD: ['VARIABLE1=VALUE1 VARIABLE2=VALUE2'],
      DEFINE: ['STP_MAXMEMORY=1024', 'DEBUG_TRANS'],
      RUNTIME: '/myruntime',
      NICKNAME: 'my-server',
      SSL: '/path/to/NSS/certificate/database',
      lines: { USER: 1, RELEASE: 2, INCLUDE: 4, BUILD: 5, DEFINE: 7, RUNTIME: 8, NICKNAME: 9, SSL: 10 },
    });
  });
});

describe('seed 6.6.1 default server files', () => {
  const empty = { BUILD: [], INCLUDE: [], DEFINE: [] };

  it('2.6.18-128.el5.conf', () => {
    const text = 'ARCH=     # default arch\nUSER=serveruser\nRELEASE=2.6.18-128.el5\nNICKNAME=2.6.18-128.el5\n';
    expect(parseServerConfig(text, '2.6.18-128.el5.conf', {}, fakeDeps)).toEqual({
      file: '2.6.18-128.el5.conf',
      ...empty,
      USER: 'serveruser',
      RELEASE: ['2.6.18-128.el5'],
      NICKNAME: '2.6.18-128.el5',
      lines: { ARCH: 1, USER: 2, RELEASE: 3, NICKNAME: 4 },
    });
  });

  it('powerpc.conf', () => {
    const text = 'ARCH=powerpc\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=powerpc\n';
    expect(parseServerConfig(text, 'powerpc.conf', {}, fakeDeps)).toEqual({
      file: 'powerpc.conf',
      ...empty,
      ARCH: 'powerpc',
      NICKNAME: 'powerpc',
      lines: { ARCH: 1, USER: 2, RELEASE: 3, NICKNAME: 4 },
    });
  });

  it('native.conf', () => {
    const text = 'ARCH=     #default arch\nUSER=     # default user\nRELEASE=  #default release\nNICKNAME=native\n';
    expect(parseServerConfig(text, 'native.conf', {}, fakeDeps)).toEqual({
      file: 'native.conf',
      ...empty,
      NICKNAME: 'native',
      lines: { ARCH: 1, USER: 2, RELEASE: 3, NICKNAME: 4 },
    });
  });
});
