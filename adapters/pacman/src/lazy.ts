/**
 * Libraries loaded on first use. Importing openpgp at start-up costs about 16 MiB of resident memory (measured on
 * Node 20.20) in every command, also on systems whose database is not pacman's: the CLI loads every format's plugin
 * to detect which one a tree uses.
 */
import type * as OpenPGP from 'openpgp';

export const loadOpenpgp = (): Promise<typeof OpenPGP> => import('openpgp');
