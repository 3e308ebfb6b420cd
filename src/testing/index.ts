/**
 * `sagaflow/testing`: the saga test kit. Given / When / Then on the real runtime over the in-memory
 * repository, with a fake clock whose `advanceTime` fires due timers.
 */
export { sagaSpec, SagaSpec, SagaSpecAssertionError, type SagaExpectation, type SagaSpecOptions, type SpecEvent } from './saga-spec.js';
export { FakeClock } from './fake-clock.js';
export { MemorySagaRepository } from '../memory/saga-repository.js';
export { StepResult, type StepOutcome } from '../runtime/saga-step.js';
export { runHandler } from './run-handler.js';
export { pathsOf, runPath, unreachableTransitions, type PathsOfOptions, type PathStep, type SagaPath } from './paths.js';
export { sampleOf } from './zod-sample.js';
export { COVERAGE_DIR_ENV, coverageReport, readCoverage, recordCoverage, type CoverageReport } from './coverage.js';
export { sagaTransitions, sagaStates, traceStep, type SagaTransition, type StepTrace } from '../core/saga/transitions.js';
