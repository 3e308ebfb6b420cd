import { pino, type Logger } from 'pino';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { CompletionStepGate, SagaStepTx, SagaStepWrite } from '../core/ports/saga-repository.js';
import type { SagaInstance } from '../core/ports/saga-store.js';
import type { Completion, CompletionStep } from '../core/ports/work-queue.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { finishedStatuses } from '../core/saga/status.js';
import type { SagaReader } from './saga-reader.js';
import type { SagaRuntime } from './saga-runtime.js';
import { runStep, StepResult, type StepOutcome } from './saga-step.js';

/** The saga storage a {@link ReplySteps} builds completion steps with (the Postgres saga repository). */
export interface CompletionStepStore {
  cachedInstance(saga: string, key: string): SagaInstance | undefined;
  /** Throws when the write does not qualify or an emitted event is rejected (the reader then applies the reply). */
  completionStep(write: SagaStepWrite, gate: CompletionStepGate): CompletionStep;
  completionStepped(step: CompletionStep, emitted: StoredEvent[]): void;
}

/** A step decided for a reply, to be applied by its completion. */
export interface PreparedReplyStep {
  readonly step: CompletionStep;
  readonly saga: SagaDefinition;
  readonly reply: EventEnvelope;
  readonly outcome: StepOutcome;
}

/** Options of {@link ReplySteps}. */
export interface ReplyStepsOptions {
  runtime: SagaRuntime;
  reader: SagaReader;
  store: CompletionStepStore;
  clock?: Clock;
  logger?: Logger;
  /** Wakes this process's followers of the log soon (they have not read the reply the completion applied). */
  wakeLater?: () => void;
  /** Called after a completion applied a step (metrics). */
  onStepped?: (reply: EventEnvelope, outcome: StepOutcome) => void;
}

/**
 * Saga steps applied by the worker completions that carry their events (ADR 0020). A worker's reply to a
 * saga's command is usually the next event of an instance this daemon stepped last: the step is decided here,
 * before the completion is sent, on the instance as this process wrote it, and the completion's one statement
 * marks the command done, appends the reply, applies the step and appends what it emits — one commit and
 * no read of the log where there were two commits and a read. It applies only when the database finds the
 * gate open (the partition's fence held, no event of a saga's type unapplied after the saga reader's
 * position) and the instance unchanged; otherwise the completion is made alone and the saga reader applies
 * the reply, as it applies every other event.
 */
export class ReplySteps {
  private readonly types: string[];
  private readonly clock: Clock;
  private readonly logger: Logger;

  constructor(private readonly options: ReplyStepsOptions) {
    this.types = options.runtime.handledTypes();
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'reply-steps' });
  }

  /**
   * The step of `replies` for their completion to apply, or undefined when it does not qualify: one reply,
   * of a type one saga handles, for a cached unfinished instance of a partition the reader owns, decided as a
   * plain write (no dead letter, no parking).
   */
  async prepare(replies: readonly EventEnvelope[]): Promise<PreparedReplyStep | undefined> {
    if (replies.length !== 1) return undefined;
    const reply = replies[0]!;
    const sagas = this.options.runtime.sagasFor(reply);
    if (sagas.length !== 1) return undefined;
    const saga = sagas[0]!;
    let key: string;
    try {
      key = this.options.runtime.keyFor(saga, reply);
    } catch {
      return undefined;
    }
    const instance = this.options.store.cachedInstance(saga.name, key);
    if (!instance || finishedStatuses.has(instance.status)) return undefined;
    const gate = this.options.reader.completionGate(saga.name, key);
    if (!gate) return undefined;
    let write: SagaStepWrite | undefined;
    const tx: SagaStepTx = {
      read: () => Promise.resolve({ instance, seen: false }),
      claimTimer: () => Promise.reject(new Error('a reply step fires no timer')),
      write: (w) => {
        write = w;
        return Promise.resolve();
      },
    };
    try {
      const outcome = await runStep(tx, { saga, key, envelope: reply, now: this.clock.now(), logger: this.logger });
      if (!write || (outcome.result !== StepResult.Applied && outcome.result !== StepResult.Ignored)) return undefined;
      return { step: this.options.store.completionStep(write, { ...gate, types: this.types }), saga, reply, outcome };
    } catch (err) {
      this.logger.debug({ err, saga: saga.name, sagaKey: key, eventId: reply.id }, 'reply left to the saga reader');
      return undefined;
    }
  }

  /**
   * After the completion committed: what a committed step is followed by (its commands handed to waiting
   * workers, the readers woken for its emitted events), when it applied the step. Returns whether it did.
   */
  async completed(prepared: PreparedReplyStep, completion: Completion): Promise<boolean> {
    if (!completion.stepped) return false;
    this.options.store.completionStepped(prepared.step, completion.emitted);
    this.options.reader.appliedByCompletion(prepared.reply.id);
    this.options.onStepped?.(prepared.reply, prepared.outcome);
    await this.options.runtime.afterStep(prepared.saga, prepared.outcome);
    this.options.wakeLater?.();
    return true;
  }
}
