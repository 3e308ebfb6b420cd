// Copies non-TypeScript assets (SQL migrations) next to the compiled code.
import { cpSync } from 'node:fs';
cpSync('src/postgres/migrations', 'dist/src/postgres/migrations', { recursive: true });
