/**
 * The options of the apt and dnf front ends, parsed without loading the engine (so `--help` and `--version` start as
 * fast as a bare node): where they work (the booted system, or a sysroot on disk named by options or by
 * OSTREE_LAYER_SYSROOT / OSTREE_LAYER_OS), the cache, the answers to the question.
 */
import { UsageError } from '@ostree-layer/core/errors';

/** Options every front end understands, parsed from its own syntax. */
export interface Session {
  /** The front end's name as invoked ("apt", "apt-get", "dnf"), for messages. */
  me: string;
  sysroot?: string;
  os?: string;
  /** Default: the engine's (/var/cache/ostree-layer). */
  cacheDir?: string;
  sources: string[];
  allowUnauthenticated: boolean;
  noRecommends: boolean;
  /** -y answers yes, --assume-no answers no, otherwise the user is asked. */
  assume: 'ask' | 'yes' | 'no';
  simulate: boolean;
  quiet: boolean;
}

export function newSession(me: string): Session {
  const env = process.env;
  return {
    me,
    sysroot: env.OSTREE_LAYER_SYSROOT || undefined,
    os: env.OSTREE_LAYER_OS || undefined,
    cacheDir: env.OSTREE_LAYER_CACHE_DIR || undefined,
    sources: [],
    allowUnauthenticated: false,
    noRecommends: false,
    assume: 'ask',
    simulate: false,
    quiet: false,
  };
}

/**
 * Takes the options both front ends accept the same way (`--sysroot`, `--os`, `--source`, `--cache-dir`, with a
 * value after a space or `=`); returns how many arguments were consumed, 0 when `args[i]` is none of them.
 */
export function commonOption(session: Session, args: string[], i: number): number {
  const m = /^--(sysroot|os|source|cache-dir)(?:=(.*))?$/.exec(args[i]!);
  if (!m) return 0;
  const value = m[2] ?? args[i + 1];
  if (value === undefined) throw new UsageError(`${args[i]} needs a value`);
  if (m[1] === 'sysroot') session.sysroot = value;
  else if (m[1] === 'os') session.os = value;
  else if (m[1] === 'source') session.sources.push(value);
  else session.cacheDir = value;
  return m[2] === undefined ? 2 : 1;
}

/** The transaction target for the engine. */
export function targetOf(session: Session): { sysroot?: string; osName?: string } {
  return { sysroot: session.sysroot, osName: session.os };
}

/** What cannot work on OSTree, with the reason and what to use instead: exit 2 with the explanation. */
export function unavailable(session: Session, verb: string, why: string): never {
  throw new UsageError(`'${verb}' is not available on an OSTree system: ${why}`);
}
