// Copies non-TypeScript assets (SQL migrations, the dashboard's static files) next to the compiled code.
import { cpSync } from 'node:fs';
cpSync('src/postgres/migrations', 'dist/src/postgres/migrations', { recursive: true });
cpSync('src/api/ui', 'dist/src/api/ui', { recursive: true });
