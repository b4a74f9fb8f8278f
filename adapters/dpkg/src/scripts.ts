/**
 * dpkg's maintainer scripts for a layered install, planned for the engine's sandbox. The route is the one that gave
 * results identical to a real `dpkg -i` (DESIGN.md): `preinst install` of each new package over the tree without the
 * new payloads; then, with the payloads, a database that records them `unpacked` and the triggers the new files
 * activate recorded as `dpkg-trigger --no-await` records them, the tree's own `dpkg --configure --pending` configures
 * every package in dependency order and processes the triggers (ldconfig, man-db, ca-certificates…), writing the
 * database itself.
 *
 * Inside the sandbox the relocated database is also at /var/lib/dpkg, where dpkg and every helper expect it, and
 * debconf's database lives under /usr (there is no writable /var to keep it in across transactions).
 */
import type { LayerFile, ScriptPlan, ScriptStep, WriteDatabaseOptions } from '@ostree-layer/core';
import { SCRIPT_DIR, SystemStateError } from '@ostree-layer/core';
import { DebPackage } from './archive.js';
import { DpkgDatabase, infoName, openDatabase, statusParagraph } from './database.js';
import { declaredInterests, deferredActivations, explicitActivations, recordedFileInterests, triggeredBy } from './triggers.js';

/** Where debconf keeps its answers in the tree; the sandbox shows it at /var/cache/debconf. */
export const DEBCONF_DATABASE = '/usr/lib/sysimage/debconf';

/** A policy-rc.d that refuses every service start or restart: nothing runs while the tree is being built. */
const POLICY_RC_D = '#!/bin/sh\n# ostree-layer: services do not start while a deployment is composed; they start at boot.\nexit 101\n';

/**
 * openssh-server's postinst generates the host keys, and Debian's ssh.service does not start without them: an image
 * composed for a fleet ships none (every machine would share them) and this unit, which makes them before sshd starts.
 */
const SSH_KEYGEN_UNIT = `[Unit]
Description=SSH host keys for this machine (ostree-layer: the image ships none)
Before=ssh.service
ConditionPathExists=/usr/bin/ssh-keygen

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
RemainAfterExit=yes
`;

const SSH_HOST_KEYS_AT_BOOT: LayerFile[] = [
  { path: '/usr/lib/systemd/system/ostree-layer-ssh-keygen.service', type: 'file', mode: 0o644, content: SSH_KEYGEN_UNIT },
  { path: '/usr/lib/systemd/system/ssh.service.wants/ostree-layer-ssh-keygen.service', type: 'symlink', mode: 0o777, content: '../ostree-layer-ssh-keygen.service' },
];

export async function planScripts(options: WriteDatabaseOptions): Promise<ScriptPlan | null> {
  const db = options.database instanceof DpkgDatabase ? options.database : await openDatabase(options.tree, options.database.location);
  const debs = options.added.map((a) => a.package).filter((p): p is DebPackage => p instanceof DebPackage);
  // The base's interests and the new packages' own: a new file matches either, as after a real unpack.
  const interests = [...(await recordedFileInterests(db)), ...debs.flatMap(declaredInterests)];
  const files: ScriptPlan['files'] = [];
  const beforePayload: ScriptStep[] = [];
  const activations = new Set<string>();
  let configure = false;

  for (const layered of options.added) {
    const pkg = layered.package;
    if (!(pkg instanceof DebPackage)) throw new SystemStateError(`${pkg.file}: not a package opened by the dpkg backend`);
    const name = infoName(statusParagraph(pkg.control));
    const env = {
      DPKG_MAINTSCRIPT_PACKAGE: pkg.id.name,
      DPKG_MAINTSCRIPT_ARCH: pkg.id.arch,
      DPKG_MAINTSCRIPT_PACKAGE_REFCOUNT: '1',
      DPKG_ADMINDIR: '/var/lib/dpkg',
      DPKG_ROOT: '',
      DEBIAN_FRONTEND: 'noninteractive',
      DEBCONF_NONINTERACTIVE_SEEN: 'true',
    };
    const preinst = pkg.controlMembers.get('preinst');
    if (preinst) {
      files.push({ name: `${name}.preinst`, content: preinst.content, mode: 0o755 });
      beforePayload.push({
        package: pkg.id,
        label: 'preinst install',
        argv: [`${SCRIPT_DIR}/${name}.preinst`, 'install'],
        env: { ...env, DPKG_MAINTSCRIPT_NAME: 'preinst' },
      });
    }
    if (pkg.controlMembers.has('postinst') || pkg.controlMembers.has('config')) configure = true;
    for (const path of triggeredBy(layered.entries, interests)) activations.add(path);
    // Explicit `activate` directives of the package's own triggers file.
    for (const trigger of explicitActivations(pkg)) activations.add(trigger);
  }
  if (beforePayload.length === 0 && !configure && activations.size === 0) return null;

  const afterPayload: ScriptStep[] = [];
  const env = { DEBIAN_FRONTEND: 'noninteractive', DEBCONF_NONINTERACTIVE_SEEN: 'true' };
  afterPayload.push({
    label: 'dpkg --configure --pending (the packages\' postinst configure and the triggers)',
    argv: ['dpkg', '--configure', '--pending'],
    env,
    failedPackages: (output) => [...new Set([...output.matchAll(/^dpkg: error processing package (\S+)/gm)].map((m) => m[1]!))],
  });

  const loc = db.location;
  // The file triggers of the new files and the packages' own `activate` directives, recorded where dpkg-trigger
  // would record them; `dpkg --configure --pending` incorporates them first thing.
  const triggers = [...activations].sort();
  const beforeConfigure = triggers.length === 0 ? [] : [
    { path: `${loc}/triggers/Unincorp`, mode: 0o644, edit: (current: Buffer | null) => deferredActivations(current?.toString('utf8') ?? '', triggers) },
  ];
  return {
    files,
    beforePayload,
    afterPayload,
    beforeConfigure,
    binds: [
      { treePath: loc, sandboxPath: '/var/lib/dpkg' },
      { treePath: DEBCONF_DATABASE, sandboxPath: '/var/cache/debconf' },
    ],
    sandboxOnly: [{ path: '/usr/sbin/policy-rc.d', content: POLICY_RC_D, mode: 0o755 }],
    discard: [`${loc}/lock`, `${loc}/lock-frontend`, `${loc}/triggers/Lock`, `${loc}/updates/`],
    perMachine: { paths: ['/usr/etc/ssh/ssh_host_*'], regenerate: SSH_HOST_KEYS_AT_BOOT },
  };
}
