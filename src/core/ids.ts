import { v7 } from 'uuid';

/** A new time-ordered UUID (v7): sortable by creation time, good as a primary key. */
export function newId(): string {
  return v7();
}
