/**
 * `dnf` on an OSTree system: dnf's verbs, options and output conventions (the transaction table, `Is this ok [y/N]`)
 * over ostree-layer transactions, as rpm-ostree does for install. Changes land in a new deployment that boots next.
 */
import { UsageError } from '@ostree-layer/core/errors';
import { VERSION } from '../version.js';
import { lifecycle } from './lifecycle.js';
import { commonOption, newSession, type Session } from './options.js';
import { DNF_PROMPT } from './prompts.js';

const ALIASES: Record<string, string> = {
  in: 'install', rm: 'remove', erase: 'remove', se: 'search', ls: 'list', wp: 'provides', whatprovides: 'provides',
  mc: 'makecache', up: 'upgrade', 'check-upgrade': 'check-update', if: 'info',
};
const WEAK_DEPS_OFF = ['--setopt=install_weak_deps=False', '--setopt=install_weak_deps=0', '--setopt=install_weak_deps=false'];
const IGNORED = ['-q', '--quiet', '--refresh', '-v', '--verbose', '--best', '--allowerasing', '--skip-broken', '-C', '--cacheonly'];

export function parseDnf(argv: string[]): { session: Session; verb: string; args: string[] } {
  const session = newSession('dnf');
  let verb = '';
  const args: string[] = [];
  for (let i = 0; i < argv.length; ) {
    const a = argv[i]!;
    const used = commonOption(session, argv, i);
    if (used) {
      i += used;
      continue;
    }
    i++;
    if (a === '-y' || a === '--assumeyes') session.assume = 'yes';
    else if (a === '--assumeno') session.assume = 'no';
    else if (WEAK_DEPS_OFF.includes(a)) session.noRecommends = true;
    else if (a === '--nogpgcheck') session.allowUnauthenticated = true;
    else if (a === '-h' || a === '--help') verb = 'help';
    else if (a === '--version') verb = 'version';
    else if (a === '--installed' || a === '--available') args.push(a.slice(2));
    else if (IGNORED.includes(a)) session.quiet ||= a.startsWith('-q');
    else if (a.startsWith('-')) throw new UsageError(`${a}: option not supported by dnf on an OSTree system (see dnf --help)`);
    else if (!verb) verb = ALIASES[a] ?? a;
    else args.push(a);
  }
  return { session, verb, args };
}

export async function runDnf(argv: string[]): Promise<void> {
  const { session, verb, args } = parseDnf(argv);
  // The engine loads only for a verb that needs it.
  const verbs = () => import('./dnf-verbs.js');
  switch (verb) {
    case 'install':
      return (await verbs()).dnfInstall(session, args);
    case 'remove':
      return (await verbs()).dnfRemove(session, args);
    case 'autoremove':
      return (await verbs()).dnfRemove(session, args, true);
    case 'search':
      return (await verbs()).dnfSearch(session, args);
    case 'info':
      return (await verbs()).dnfInfo(session, args);
    case 'list':
      return (await verbs()).dnfList(session, args);
    case 'repolist':
      return (await verbs()).dnfRepolist(session);
    case 'makecache':
      await (await verbs()).dnfRepolist(session, true);
      return void console.log('Metadata cache created.');
    case 'check-update':
      return (await verbs()).dnfCheckUpdate(session);
    case 'provides':
      return (await verbs()).dnfProvides(session, args);
    case 'history':
      // The last transaction is the newest deployment: undoing it is booting the previous one, as rpm-ostree rollback.
      if (args[0] === 'rollback' || args[0] === 'undo') {
        if (args[1] !== undefined && args[1] !== 'last') throw new UsageError(`history ${args[0]} ${args[1]}: only 'last' can be undone on OSTree (the previous deployment boots again)`);
        return lifecycle(session, 'rollback', DNF_STYLE);
      }
      return (await verbs()).dnfHistory(session);
    case 'version':
      return void console.log(`${VERSION} (ostree-layer dnf front end for OSTree systems)`);
    case 'help':
    case '':
      console.log(DNF_HELP);
      if (!verb) process.exitCode = 2;
      return;
    default:
      return lifecycle(session, verb, DNF_STYLE);
  }
}

const DNF_STYLE = { remove: 'dnf remove NAME', ...DNF_PROMPT };

const DNF_HELP = `usage: dnf [options] COMMAND

dnf on an OSTree system: every change composes a new deployment that boots next; the running system is untouched.

List of Main Commands:
autoremove                remove layered packages that were pulled in and are needed no more
check-update              check for available package upgrades
history                   the transactions ostree-layer made on this deployment ('history undo last' boots the previous one)
info                      display details about a package or group of packages
install                   layer a package or packages (names or .rpm files)
list                      list installed and available packages
makecache                 fetch and verify the repository metadata
provides                  find what package provides the given value
remove                    remove a layered package or packages
repolist                  display the configured software repositories
search                    search package details for the given string
upgrade                   a new base with the layered packages resolved onto it (also update, distro-sync)

Options:
  -y, --assumeyes         automatically answer yes for all questions
  --assumeno              automatically answer no for all questions
  --setopt=install_weak_deps=False   leave weak dependencies out
  --nogpgcheck            accept unsigned repository metadata
  --sysroot DIR, --os NAME  a sysroot on disk instead of the booted system (or OSTREE_LAYER_SYSROOT, OSTREE_LAYER_OS)
  --source BASEURL|FILE   an extra repository
  --cache-dir DIR         metadata and downloads (default /var/cache/ostree-layer, or OSTREE_LAYER_CACHE_DIR)

Not available on OSTree: downgrade, reinstall (dnf <verb> says why).`;
