/** The saga core: definitions, the pure decider, status derivation and the event mapping. */
export * from './definition.js';
export { defineSaga, type SagaDefinition, type DefineSagaOptions } from './define-saga.js';
export { decide, restoreSnapshot, timerEventId, type Decision, type DecideInput, type DeciderInstance } from './decider.js';
export { emittedEventId, toEmittedEnvelope, toMachineEvent, type SagaMachineEvent } from './event-mapping.js';
export { deriveStatus, SagaTag, finishedStatuses } from './status.js';
export { timerEnvelope } from './timer-event.js';
export { RESUME_EVENT, resumeEventSchema, type ResumeEvent } from './resume.js';
export type { SagaRepository, SagaStepTx, SagaStepRead, SagaStepWrite, SagaInstanceWrite } from '../ports/saga-repository.js';
export {
  emptyCompensationLog, recordStep, forgetStep, pendingStep, settlePending, failPending, isReplyToPending, isFailureOfPending,
  describeFailure, compensationActions, compensationGuards, compensatingState, resumableFailedState, MAX_COMPENSATION_ERRORS,
  type SagaCommand, type CompensationStep, type CompensationLog, type CompensationGuardOptions, type CompensatingStateOptions,
} from './compensation.js';
export {
  sagaGraph, sagaMermaid, SagaGraphEdgeKind, type SagaGraph, type SagaGraphNode, type SagaGraphEdge, type SagaGraphNodeType,
  type SagaMermaidOptions,
} from './graph.js';
export { keyFromData, correlateAll } from './correlate.js';
