#!/usr/bin/env node
import { Command } from '@commander-js/extra-typings';
import { runInspect, runInstall, runStatus, runVercmp } from './commands.js';
import { runSearch, runShow } from './repo-commands.js';
import { printJson, reportError } from './output.js';
import { handleInterrupts } from '@ostree-layer/core';
import { runUninstall } from './uninstall-command.js';

const program = new Command('ostree-layer')
  .description('Layer dpkg and rpm packages onto OSTree deployments without touching the running tree')
  .showHelpAfterError()
  .exitOverride();

program
  .command('install')
  .description('layer packages (names from the configured repositories, or package files) onto the deployment and deploy the result for the next boot')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployment (stateroot)')
  .option('--json', 'print one JSON document on stdout')
  .argument('<packages...>', 'package names (htop, foo:i386, foo=1.2-3) or package files (.deb, .rpm)')
  .option('--repo <dir>', 'with --commit-only: the OSTree repo to compose in')
  .option('--ref <ref>', 'with --commit-only: the ref to start from and to move to the result')
  .option('--commit-only', 'compose a commit in --repo under --ref and deploy nothing (server side)')
  .option('--dry-run', 'show what would be layered; change nothing')
  .option('--no-install-recommends', 'do not install recommended packages')
  .option('--allow-unauthenticated', 'accept unsigned, expired or wrongly signed repository metadata')
  .option('--source <line>', 'an extra repository in sources.list syntax (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--cache-dir <dir>', 'where indexes and downloads are kept', '/var/cache/ostree-layer')
  .option('--key <file>', 'package files must be signed by this OpenPGP key (rpm; repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .action(async (files, opts) => runInstall(files, opts));

for (const [verb, what] of [['search', 'list packages whose name or summary matches PATTERN (glob or substring)'], ['show', 'print the repository metadata of package NAME']] as const) {
  program
    .command(verb)
    .description(what)
    .argument(verb === 'search' ? '<pattern>' : '<name>')
    .option('--sysroot <dir>', 'sysroot on disk instead of the booted system (its deployment\'s sources are used)')
    .option('--os <name>', 'OS name of the deployment (stateroot)')
    .option('--source <line>', 'an extra repository in sources.list syntax (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--allow-unauthenticated', 'accept unsigned, expired or wrongly signed repository metadata')
    .option('--cache-dir <dir>', 'where indexes are kept', '/var/cache/ostree-layer')
    .option('--json', 'print one JSON document on stdout')
    .action(async (arg, opts) => (verb === 'search' ? runSearch(arg, opts) : runShow(arg, opts)));
}

program
  .command('uninstall')
  .alias('remove')
  .description('compose again from the base without these layered packages and deploy the result for the next boot')
  .argument('<names...>', 'layered packages (name or name:arch)')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployment (stateroot)')
  .option('--repo <dir>', 'with --commit-only: the OSTree repo to compose in')
  .option('--ref <ref>', 'with --commit-only: the ref to start from and to move to the result')
  .option('--commit-only', 'compose a commit in --repo under --ref and deploy nothing (server side)')
  .option('--dry-run', 'show what would be removed; change nothing')
  .option('--json', 'print one JSON document on stdout')
  .action(async (names, opts) => runUninstall(names, opts));

program
  .command('status')
  .description('deployments with their base and layered packages')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployments to show')
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts) => runStatus(opts));

program
  .command('vercmp')
  .description('compare two versions like dpkg --compare-versions (exit 0 when the relation holds, 1 when not)')
  .argument('<a>')
  .argument('<op>', 'lt le eq ne ge gt, lt-nl le-nl ge-nl gt-nl (an empty version is the latest), or << <= = >= >> < >')
  .argument('<b>')
  .option('--backend <name>', 'version rules to use: dpkg or rpm', 'dpkg')
  .option('--json', 'print the result as JSON')
  .action(async (a, op, b, opts) => runVercmp(a, op, b, opts));

program
  .command('inspect')
  .description('print the metadata and file list of package files')
  .argument('<files...>')
  .option('--json', 'print a JSON array, one object per file')
  .action(async (files, opts) => runInspect(files, opts));

const json = process.argv.includes('--json');
handleInterrupts(({ deferred, message }) => {
  if (json && !deferred) printJson({ error: { kind: 'interrupted', message } });
  else process.stderr.write(`ostree-layer: ${message}\n`);
});
try {
  await program.parseAsync();
} catch (err) {
  const code = (err as { code?: string }).code;
  if (code === 'commander.helpDisplayed' || code === 'commander.version') process.exitCode = 0;
  else if (typeof code === 'string' && code.startsWith('commander.')) process.exitCode = 2;
  else process.exitCode = reportError(err, json);
}
