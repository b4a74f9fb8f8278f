/**
 * The scriptlets and file triggers of one rpm header, parsed into typed records. Tag layout as rpm 4.18 reads it
 * (lib/rpmscript.c, lib/rpmtriggers.c): a scriptlet is a body tag, an interpreter tag (argv, "<lua>" for the
 * built-in Lua) and a flags tag; file triggers keep their prefixes, flags and trigger index in parallel arrays and
 * their bodies, interpreters, flags and priorities per trigger index.
 */
import { Tag, type RpmHeader } from './header.js';

/** The scriptlets this adapter runs. %pretrans and the *un kinds are read by nobody: see scripts.ts. */
export type ScriptletKind = 'pre' | 'post' | 'posttrans';

const SCRIPTLET_TAGS: Record<ScriptletKind, { body: number; prog: number; flags: number }> = {
  pre: { body: Tag.PreIn, prog: Tag.PreInProg, flags: Tag.PreInFlags },
  post: { body: Tag.PostIn, prog: Tag.PostInProg, flags: Tag.PostInFlags },
  posttrans: { body: Tag.PostTrans, prog: Tag.PostTransProg, flags: Tag.PostTransFlags },
};

/** rpmscriptFlags: the body is macro-expanded (`-e`) or header-queryformatted (`-q`) by rpm at install time. */
export const ScriptFlag = { Expand: 1 << 0, QueryFormat: 1 << 1 } as const;

/** rpmsenseFlags of a trigger condition. */
export const TriggerSense = { In: 1 << 16, Un: 1 << 17, PostUn: 1 << 18, PreIn: 1 << 25 } as const;

/** rpm's default file trigger priority; triggers at or above the bound run before %post, the others after. */
export const DEFAULT_TRIGGER_PRIORITY = 1000000;
export const TRIGGER_PRIORITY_BOUND = 10000;

/** rpm's name for the built-in Lua interpreter. */
export const LUA_INTERPRETER = '<lua>';

export interface Scriptlet {
  kind: ScriptletKind;
  /** Interpreter and its arguments as the header gives them (rpm: /bin/sh when the tag is absent). */
  interpreter: string[];
  /** Absent for `%post -p /sbin/ldconfig`: rpm then runs the interpreter alone, without the count argument. */
  body?: string;
  flags: number;
}

export type FileTriggerMode = 'file' | 'transfile';

/** One `%filetriggerin` or `%transfiletriggerin` section. */
export interface FileTrigger {
  mode: FileTriggerMode;
  /** The trigger index: rpm orders triggers of one package by priority, then by this. */
  index: number;
  /** The watched prefixes, in header order (a path matches when it starts with one, as a plain string). */
  prefixes: string[];
  priority: number;
  /** A trigger's interpreter is one string, never split into arguments (rpm execs it as argv[0]). */
  interpreter: string;
  body?: string;
  flags: number;
}

/** The scriptlet of `kind` in `h`, or undefined when the package has none (neither body nor interpreter). */
export function readScriptlet(h: RpmHeader, kind: ScriptletKind): Scriptlet | undefined {
  const tags = SCRIPTLET_TAGS[kind];
  if (!h.has(tags.body) && !h.has(tags.prog)) return undefined;
  const interpreter = h.strings(tags.prog);
  return {
    kind,
    interpreter: interpreter.length ? interpreter : ['/bin/sh'],
    body: h.string(tags.body),
    flags: h.number(tags.flags) ?? 0,
  };
}

const TRIGGER_TAGS: Record<FileTriggerMode, { name: number; index: number; flags: number; scripts: number; progs: number; scriptFlags: number; priorities: number }> = {
  file: {
    name: Tag.FileTriggerName, index: Tag.FileTriggerIndex, flags: Tag.FileTriggerFlags, scripts: Tag.FileTriggerScripts,
    progs: Tag.FileTriggerScriptProg, scriptFlags: Tag.FileTriggerScriptFlags, priorities: Tag.FileTriggerPriorities,
  },
  transfile: {
    name: Tag.TransFileTriggerName, index: Tag.TransFileTriggerIndex, flags: Tag.TransFileTriggerFlags,
    scripts: Tag.TransFileTriggerScripts, progs: Tag.TransFileTriggerScriptProg,
    scriptFlags: Tag.TransFileTriggerScriptFlags, priorities: Tag.TransFileTriggerPriorities,
  },
};

/**
 * The install-sense triggers of `mode` in `h`, by trigger index. rpm decides the sense of a trigger by its first
 * condition (rpmtriggers.c: runHandleTriggersInPkg), so a section is an "in" trigger when that one carries TRIGGERIN.
 */
export function readFileTriggers(h: RpmHeader, mode: FileTriggerMode): FileTrigger[] {
  const tags = TRIGGER_TAGS[mode];
  const names = h.strings(tags.name);
  if (!names.length) return [];
  const indexes = h.numbers(tags.index);
  const senses = h.numbers(tags.flags);
  const scripts = h.strings(tags.scripts);
  const progs = h.strings(tags.progs);
  const scriptFlags = h.numbers(tags.scriptFlags);
  const priorities = h.numbers(tags.priorities);
  const triggers: FileTrigger[] = [];
  for (let index = 0; index < scripts.length; index++) {
    const conditions = names.map((name, i) => ({ name, sense: senses[i] ?? 0 })).filter((_, i) => indexes[i] === index);
    if (!conditions.length || !(conditions[0].sense & TriggerSense.In)) continue;
    triggers.push({
      mode,
      index,
      prefixes: conditions.map((c) => c.name),
      priority: priorities[index] ?? DEFAULT_TRIGGER_PRIORITY,
      interpreter: progs[index] || '/bin/sh',
      body: scripts[index],
      flags: scriptFlags[index] ?? 0,
    });
  }
  return triggers;
}

/** Package triggers (`%triggerin -- other`), which this adapter refuses: their names and the senses they fire on. */
export function readPackageTriggers(h: RpmHeader): Array<{ name: string; sense: number }> {
  const names = h.strings(Tag.TriggerName);
  const senses = h.numbers(Tag.TriggerFlags);
  return names.map((name, i) => ({ name, sense: senses[i] ?? 0 }));
}

/** RPM_INSTALL_PREFIX* come from the prefixes an installed header records, else from the package's own. */
export function installPrefixes(h: RpmHeader): string[] {
  const installed = h.strings(Tag.InstPrefixes);
  return installed.length ? installed : h.strings(Tag.Prefixes);
}
