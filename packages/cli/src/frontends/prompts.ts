/** The question each front end asks before a change, in its tool's words (no engine import: `--help` stays fast). */

/** The tool's question before a change, its default answer, and what it prints when the answer is no. */
export interface Prompt {
  question: string;
  defaultYes: boolean;
  aborted: string;
}

export const APT_PROMPT: Prompt = { question: 'Do you want to continue? [Y/n] ', defaultYes: true, aborted: 'Abort.' };
export const DNF_PROMPT: Prompt = { question: 'Is this ok [y/N]: ', defaultYes: false, aborted: 'Operation aborted.' };
