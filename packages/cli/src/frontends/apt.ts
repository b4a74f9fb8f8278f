/**
 * `apt` and `apt-get` on an OSTree system: apt's verbs, options and output conventions over ostree-layer
 * transactions. Changes land in a new deployment that boots next; what cannot work on OSTree says why.
 */
import { UsageError } from '@ostree-layer/core/errors';
import { VERSION } from '../version.js';
import { lifecycle } from './lifecycle.js';
import { commonOption, newSession, type Session } from './options.js';
import { APT_PROMPT } from './prompts.js';

interface AptRequest {
  verb: string;
  args: string[];
  flags: Set<string>;
}

const SIMULATE = ['-s', '--simulate', '--just-print', '--dry-run', '--no-act', '--recon'];
const YES = ['-y', '--yes', '--assume-yes'];
/** Options apt accepts that change nothing here (output detail, or the default already). */
const IGNORED = ['-q', '-qq', '--quiet', '--install-recommends', '--no-upgrade', '-f', '--fix-broken', '--purge', '--auto-remove'];
/** Options that select what list/search/show print. */
const SELECTORS = ['--installed', '--upgradable', '--all-versions', '-a', '--names-only', '--full', '--manual-installed'];

export function parseApt(me: string, argv: string[]): { session: Session; request: AptRequest } {
  const session = newSession(me);
  const request: AptRequest = { verb: '', args: [], flags: new Set() };
  // apt takes bundled short options ("-qy").
  const args = argv.flatMap((a) => (/^-[a-z]{2,}$/.test(a) ? [...a.slice(1)].map((c) => `-${c}`) : [a]));
  for (let i = 0; i < args.length; ) {
    const a = args[i]!;
    const used = commonOption(session, args, i);
    if (used) {
      i += used;
      continue;
    }
    i++;
    if (YES.includes(a)) session.assume = 'yes';
    else if (a === '--assume-no') session.assume = 'no';
    else if (SIMULATE.includes(a)) session.simulate = true;
    else if (a === '--no-install-recommends') session.noRecommends = true;
    else if (a === '--allow-unauthenticated') session.allowUnauthenticated = true;
    else if (a === '-h' || a === '--help') request.verb = 'help';
    else if (a === '-v' || a === '--version') request.verb = 'version';
    else if (SELECTORS.includes(a)) request.flags.add(a === '-a' ? '--all-versions' : a);
    else if (IGNORED.includes(a)) session.quiet ||= a.startsWith('-q');
    else if (a.startsWith('-')) throw new UsageError(`${a}: option not supported by ${me} on an OSTree system (see ${me} --help)`);
    else if (!request.verb) request.verb = a;
    else request.args.push(a);
  }
  return { session, request };
}

export async function runApt(me: string, argv: string[]): Promise<void> {
  const { session, request } = parseApt(me, argv);
  const { verb, args } = request;
  // The engine loads only for a verb that needs it.
  const verbs = () => import('./apt-verbs.js');
  switch (verb) {
    case 'install':
      return (await verbs()).aptInstall(session, args);
    case 'remove':
    case 'purge':
      return (await verbs()).aptRemove(session, args);
    case 'autoremove':
      return (await verbs()).aptRemove(session, args, true);
    case 'search':
      return (await verbs()).aptSearch(session, args, request.flags.has('--names-only'));
    case 'show':
      return (await verbs()).aptShow(session, args, request.flags.has('--all-versions'));
    case 'list':
      return (await verbs()).aptList(session, args, request.flags);
    case 'policy':
      return (await verbs()).aptPolicy(session, args);
    case 'update':
      return (await verbs()).aptUpdate(session);
    case 'version':
      console.log(`${me} (ostree-layer ${VERSION}) for OSTree systems`);
      return;
    case 'help':
    case '':
      console.log(aptHelp(me));
      if (!verb) process.exitCode = 2;
      return;
    default:
      return lifecycle(session, verb, { remove: `${me} remove NAME`, ...APT_PROMPT });
  }
}

function aptHelp(me: string): string {
  return `Usage: ${me} [options] command [packages]

${me} on an OSTree system: every change composes a new deployment that boots next; the running system is untouched.

Commands:
  install     layer packages (names or .deb files) onto the deployment
  remove      take layered packages off again, with what needs them (purge: the same)
  autoremove  take off layered packages that were pulled in and are needed no more
  upgrade     a new base with the layered packages resolved onto it (also full-upgrade, dist-upgrade)
  search      search package names and descriptions (regular expressions)
  show        show package details
  list        list packages (--installed, --upgradable)
  policy      show the installed and candidate versions and the sources
  update      fetch and verify the package indexes

Options:
  -y, --yes, --assume-yes   answer yes to the question
  --assume-no               answer no to the question
  -s, --simulate            show what would happen; change nothing
  --no-install-recommends   leave recommended packages out
  --allow-unauthenticated   accept unsigned repository metadata
  --sysroot DIR, --os NAME  a sysroot on disk instead of the booted system (or OSTREE_LAYER_SYSROOT, OSTREE_LAYER_OS)
  --source LINE             an extra repository (sources.list syntax)
  --cache-dir DIR           indexes and downloads (default /var/cache/ostree-layer, or OSTREE_LAYER_CACHE_DIR)

Not available on OSTree: reinstall (${me} reinstall says why). The previous deployment stays bootable
(ostree-layer rollback makes it the default again).`;
}
