/** The generic dependency solver: pool, relations, solver, transaction and problem explanations. */
export type { Alternative, Provide, Relation, RelationOp, RichRelation } from './relation.js';
export { alternativesOf, formatAlternative, formatRelation, isRich } from './relation.js';
export type { PackageSpec, PoolOptions, PoolPackage } from './pool.js';
export { Pool } from './pool.js';
export { reachableSpecs, type ReachableSource } from './reachable.js';
export type { Request } from './rules.js';
export type { SolveOptions, SolverPolicy } from './solver.js';
export { solve } from './solver.js';
export type { InstallReason, Transaction, TransactionStep } from './transaction.js';
export type { Problem, ProblemKind, ProblemStep } from './problem.js';
export { UnsatisfiableError } from './problem.js';
/** Text notation for small universes: handy in a backend's own resolution tests. */
export { compareSimpleVersions, parseAlternative, parsePackageLine, parseRelations, universe } from './universe.js';
