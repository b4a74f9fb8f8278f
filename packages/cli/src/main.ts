#!/usr/bin/env node
/**
 * The `ostree-layer` command. Every apt/dnf front-end call pays this file's start-up, so only commander loads here:
 * each verb imports its module (and through it the engine, the backends, execa, openpgp…) when it runs.
 */
import { Command } from '@commander-js/extra-typings';
import { VERSION } from './version.js';
// Signal handling is light (no engine): it only acts on a transaction the engine has started.
import { handleInterrupts, stopping } from '@ostree-layer/core/interrupt';

const program = new Command('ostree-layer')
  .description('Layer dpkg and rpm packages onto OSTree deployments without touching the running tree')
  .version(VERSION, '-V, --version', 'print the version')
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
  .option('--no-scripts', 'do not run maintainer scripts: packages stay unconfigured, and the output says so')
  .action(async (files, opts) => (await import('./commands.js')).runInstall(files, opts));

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
    .action(async (arg, opts) => {
      const { runSearch, runShow } = await import('./repo-commands.js');
      return verb === 'search' ? runSearch(arg, opts) : runShow(arg, opts);
    });
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
  .option('--with-dependents', 'also remove the layered packages that need what is removed (as apt remove does), instead of refusing')
  .option('--dry-run', 'show what would be removed; change nothing')
  .option('--cache-dir <dir>', 'accepted as install takes it (an uninstall downloads nothing)', '/var/cache/ostree-layer')
  .option('--json', 'print one JSON document on stdout')
  .action(async (names, opts) => (await import('./uninstall-command.js')).runUninstall(names, opts));

program
  .command('autoremove')
  .description('remove the layered packages that were pulled in as dependencies and that nothing layered needs any more')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployment (stateroot)')
  .option('--dry-run', 'show what would be removed; change nothing')
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts) => (await import('./uninstall-command.js')).runUninstall([], opts, true));

program
  .command('upgrade')
  .description("compose the requests onto the origin's newest base (and the repositories' newest versions) and deploy it")
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployment (stateroot)')
  .option('--check', 'say what would change (base and layered packages); change nothing')
  .option('--no-scripts', 'do not run maintainer scripts: packages stay unconfigured')
  .option('--dry-run', 'the same as --check')
  .option('--no-install-recommends', 'do not install recommended packages')
  .option('--allow-unauthenticated', 'accept unsigned, expired or wrongly signed repository metadata')
  .option('--source <line>', 'an extra repository in sources.list syntax (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
  .option('--cache-dir <dir>', 'where indexes and downloads are kept', '/var/cache/ostree-layer')
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts) => (await import('./lifecycle-commands.js')).runUpgrade(opts));

program
  .command('rollback')
  .description('make the previous deployment boot next (the current default becomes the rollback)')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployments (stateroot)')
  .option('--dry-run', 'say which deployment would boot next; change nothing')
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts) => (await import('./lifecycle-commands.js')).runRollback(opts));

program
  .command('cleanup')
  .description('delete cached layers, base commits and downloaded package files that no deployment uses, and prune the repo')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--cache-dir <dir>', 'the download cache to clean', '/var/cache/ostree-layer')
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts) => (await import('./lifecycle-commands.js')).runCleanup(opts));

program
  .command('status')
  .description('deployments with their base and layered packages')
  .option('--sysroot <dir>', 'sysroot on disk instead of the booted system')
  .option('--os <name>', 'OS name of the deployments to show')
  .option('--json', 'print one JSON document on stdout')
  .action(async (opts) => (await import('./commands.js')).runStatus(opts));

program
  .command('vercmp')
  .description('compare two versions like dpkg --compare-versions (exit 0 when the relation holds, 1 when not)')
  .argument('<a>')
  .argument('<op>', 'lt le eq ne ge gt, lt-nl le-nl ge-nl gt-nl (an empty version is the latest), or << <= = >= >> < >')
  .argument('<b>')
  .option('--backend <name>', 'version rules to use: dpkg, rpm or pacman', 'dpkg')
  .option('--json', 'print the result as JSON')
  .action(async (a, op, b, opts) => (await import('./vercmp-command.js')).runVercmp(a, op, b, opts));

program
  .command('inspect')
  .description('print the metadata and file list of package files')
  .argument('<files...>')
  .option('--json', 'print a JSON array, one object per file')
  .action(async (files, opts) => (await import('./commands.js')).runInspect(files, opts));

const json = process.argv.includes('--json');
handleInterrupts(({ deferred, message }) => {
  if (json && !deferred) process.stdout.write(JSON.stringify({ error: { kind: 'interrupted', message } }, null, 2) + '\n');
  else process.stderr.write(`ostree-layer: ${message}\n`);
});
// Not top-level await: the bundle (scripts/bundle-cli.mjs) is a CommonJS script, which V8 can start from a code cache.
void main();

async function main(): Promise<void> {
  try {
    // The apt and dnf front ends parse their own syntax; commander never sees their arguments.
    if (process.argv[2] === 'frontend') process.exitCode = await (await import('./frontends/index.js')).runFrontend(process.argv.slice(3));
    else await program.parseAsync();
  } catch (err) {
    const code = (err as { code?: string }).code;
    // `help`, `--help` and `--version` exit 0; help shown because a verb is missing is a usage error.
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') {
      process.exitCode = (err as { exitCode?: number }).exitCode ? 2 : 0;
    } else if (typeof code === 'string' && code.startsWith('commander.')) process.exitCode = 2;
    // A signal stopping the transaction reports and sets the exit status itself; the errors of what it killed are not news.
    else if (!stopping()) process.exitCode = (await import('./output.js')).reportError(err, json);
  }
}
