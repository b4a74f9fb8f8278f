/**
 * What the apt and dnf front ends do around every change: run the transaction with the session's options, show the
 * plan in the tool's own words and ask the tool's question before anything is written (-y / --assume-no answer it),
 * and on a no say the tool's word for it and exit 1. Only the wording differs between the two.
 */
import { install, uninstall, type InstallResult, type UninstallResult } from '@ostree-layer/core';
import { PLUGINS } from '../backends.js';
import { renderer } from '../progress.js';
import { splitArguments } from '../repo-commands.js';
import { targetOf, type Session } from './options.js';
import type { Prompt } from './prompts.js';
import { confirm } from './session.js';

/** Asks `prompt` (or takes -y / --assume-no). */
export function ask(session: Session, prompt: Prompt): Promise<boolean> {
  return confirm(session, prompt.question, prompt.defaultYes);
}

/** When the user said no: prints the tool's word for it, sets exit status 1, and returns true. */
export function abortedByUser(result: { aborted?: boolean }, prompt: Prompt): boolean {
  if (!result.aborted) return false;
  console.log(prompt.aborted);
  process.exitCode = 1;
  return true;
}

/** `install` of names and package files; `showPlan` prints the plan before the question. `asked`: the question came. */
export async function installAsked(session: Session, args: string[], showPlan: (plan: InstallResult) => void, prompt: Prompt): Promise<{ result: InstallResult; asked: boolean }> {
  const { files, names } = splitArguments(args);
  let asked = false;
  const result = await install({
    plugins: PLUGINS,
    files,
    names,
    cacheDir: session.cacheDir,
    extraSources: session.sources,
    noInstallRecommends: session.noRecommends,
    allowUnauthenticated: session.allowUnauthenticated,
    ...targetOf(session),
    dryRun: session.simulate,
    report: renderer({ json: false }),
    confirm: async (plan) => {
      asked = true;
      showPlan(plan);
      return ask(session, prompt);
    },
  });
  return { result, asked };
}

/**
 * `uninstall` (or, with `autoremove`, only the pulled-in packages nothing needs); the packages that need a removed one
 * go too, after being shown, as apt and dnf take them along.
 */
export function uninstallAsked(session: Session, names: string[], autoremove: boolean, showPlan: (plan: UninstallResult) => void, prompt: Prompt): Promise<UninstallResult> {
  return uninstall({
    plugins: PLUGINS,
    withDependents: true,
    autoremoveOnly: autoremove,
    names: autoremove ? [] : names,
    ...targetOf(session),
    dryRun: session.simulate,
    report: renderer({ json: false }),
    confirm: async (plan) => {
      showPlan(plan);
      return ask(session, prompt);
    },
  });
}
