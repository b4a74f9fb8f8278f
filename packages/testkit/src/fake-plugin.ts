/** The fake format as a command registers it: the fake backend and its repository side, one plugin. */
import type { FormatPlugin } from '@ostree-layer/core';
import { fakeBackend } from './fake-backend.js';
import { fakeRepositories } from './fake-repository.js';

export const fakePlugin: FormatPlugin = { backend: fakeBackend, repositories: fakeRepositories };
