import { execa } from 'execa';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { splitTmpfilesLine } from './phase.js';
import { accountChanges, sysusersConf } from './sysusers.js';

const BASE_PASSWD = 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
const BASE_GROUP = 'root:x:0:\nadm:x:4:\nnogroup:x:65534:\n';

describe('users and groups that scripts add become sysusers.d lines', () => {
  it('keeps the ids the scripts chose, groups first, memberships last', () => {
    const changes = accountChanges(
      { passwd: BASE_PASSWD, group: BASE_GROUP },
      {
        passwd: BASE_PASSWD + 'messagebus:x:100:101::/nonexistent:/usr/sbin/nologin\nsshd:x:101:65534::/run/sshd:/usr/sbin/nologin\nsvc:x:998:998:Some Service:/var/lib/svc:/bin/false\n',
        group: BASE_GROUP.replace('adm:x:4:', 'adm:x:4:svc') + 'messagebus:x:101:\nsvc:x:998:\n',
      },
    );
    expect(sysusersConf(changes)).toBe(
      [
        'g messagebus 101',
        'g svc 998',
        'u messagebus 100:messagebus - /nonexistent /usr/sbin/nologin',
        'u sshd 101:65534 - /run/sshd /usr/sbin/nologin',
        'u svc 998:svc "Some Service" /var/lib/svc /bin/false',
        'm svc adm',
        '',
      ].join('\n'),
    );
  });

  it('says nothing when nothing was added', () => {
    expect(sysusersConf(accountChanges({ passwd: BASE_PASSWD, group: BASE_GROUP }, { passwd: BASE_PASSWD, group: BASE_GROUP }))).toBe('');
  });

  it('systemd-sysusers reads the lines and creates the users with those ids in an empty root', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ostree-layer-sysusers-'));
    try {
      mkdirSync(join(root, 'etc'));
      mkdirSync(join(root, 'usr/lib/sysusers.d'), { recursive: true });
      writeFileSync(join(root, 'etc/passwd'), BASE_PASSWD);
      writeFileSync(join(root, 'etc/group'), BASE_GROUP);
      const conf = sysusersConf(accountChanges({ passwd: BASE_PASSWD, group: BASE_GROUP }, {
        passwd: BASE_PASSWD + 'sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n',
        group: BASE_GROUP + '_ssh:x:102:\n',
      }));
      writeFileSync(join(root, 'usr/lib/sysusers.d/00-test.conf'), conf);
      await execa('systemd-sysusers', [`--root=${root}`]);
      const passwd = (await execa('cat', [join(root, 'etc/passwd')])).stdout;
      expect(passwd).toMatch(/^sshd:x:101:65534::\/run\/sshd:\/usr\/sbin\/nologin$/m);
      expect((await execa('cat', [join(root, 'etc/group')])).stdout).toMatch(/^_ssh:x:102:$/m);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe('the import\'s own tmpfiles.d lines are read back for the sandbox seed', () => {
  it('splits fields and unquotes paths with spaces', () => {
    expect(splitTmpfilesLine('d /var/lib/foo 0755 root root -')).toEqual(['d', '/var/lib/foo', '0755', 'root', 'root', '-']);
    expect(splitTmpfilesLine('C "/var/lib/a b" - - - - "/usr/share/factory/var/lib/a b"')).toEqual(['C', '/var/lib/a b', '-', '-', '-', '-', '/usr/share/factory/var/lib/a b']);
    expect(splitTmpfilesLine('L /var/run - - - - ../run')).toEqual(['L', '/var/run', '-', '-', '-', '-', '../run']);
  });
});
