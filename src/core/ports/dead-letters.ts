import type { EventEnvelope } from '../events/envelope.js';

/** An event a handler (or the saga runtime) gave up on. */
export interface DeadLetter {
  id: string;
  /** The subscription group / saga that failed, e.g. `saga:TaskProcessing`. */
  handlerId: string;
  /** The event, or for unparseable input a stand-in holding the raw text in `data.raw`. */
  event: EventEnvelope;
  error: { message: string; code?: string; stack?: string };
  attempts: number;
  firstFailedAt: string;
  lastFailedAt: string;
  status: 'open' | 'retried' | 'discarded';
  /** Why it was discarded, or who retried it. */
  note?: string;
  /** Saga name and instance key when the failure belongs to an instance. */
  saga?: string;
  sagaKey?: string;
}

export type NewDeadLetter = Omit<DeadLetter, 'id' | 'status' | 'note'>;

export interface DeadLetterFilter {
  status?: DeadLetter['status'];
  handlerId?: string;
  saga?: string;
  sagaKey?: string;
  limit?: number;
}

/** Where poisoned or exhausted events are parked for operators. */
export interface DeadLetters {
  add(letter: NewDeadLetter): Promise<DeadLetter>;
  list(filter?: DeadLetterFilter): Promise<DeadLetter[]>;
  get(id: string): Promise<DeadLetter | undefined>;
  /** Marks as retried or discarded; returns false when the letter is not open. */
  resolve(id: string, status: 'retried' | 'discarded', note?: string): Promise<boolean>;
}
