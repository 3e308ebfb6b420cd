/**
 * `sagaflow/testing`: the saga test kit. Given / When / Then on the real runtime over the in-memory
 * repository, with a fake clock whose `advanceTime` fires due timers.
 */
export { sagaSpec, SagaSpec, SagaSpecAssertionError, type SagaExpectation, type SagaSpecOptions, type SpecEvent } from './saga-spec.js';
export { FakeClock } from './fake-clock.js';
export { MemorySagaRepository } from '../memory/saga-repository.js';
export { StepResult, type StepOutcome } from '../runtime/saga-step.js';
export { runHandler } from './run-handler.js';
