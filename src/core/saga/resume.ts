import { z } from 'zod';
import type { EventEnvelope } from '../events/envelope.js';

/**
 * The operator's resume of a saga instance (`sagaflow sagas resume`, `POST /v1/sagas/:saga/:key/resume`): an
 * event for one instance, named by saga and key in its data, with the operator's reason. A saga opts in by
 * handling it in a state (its failed state, typically: see `resumableFailedState` in compensation.ts);
 * `defineSaga` then declares it for that saga. The runtime delivers it only to the saga it names.
 */
export const RESUME_EVENT = 'sagaflow.resume';

export const resumeEventSchema = z.object({
  saga: z.string().min(1).max(200),
  key: z.string().min(1).max(200),
  reason: z.string().trim().min(1).max(2000),
});

/** The machine event of a resume (add it to the machine's event union to handle it). */
export interface ResumeEvent {
  type: typeof RESUME_EVENT;
  data: z.infer<typeof resumeEventSchema>;
  envelope?: EventEnvelope;
}

/** True when `event` is a resume meant for another saga than `saga` (the runtime skips it there). */
export function isResumeForAnother(event: EventEnvelope, saga: string): boolean {
  return event.type === RESUME_EVENT && event.data.saga !== saga;
}
