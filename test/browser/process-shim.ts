// Imported first by the browser entry: test helpers read process.env at module level, which browsers lack.
const g = globalThis as unknown as { process?: { env: Record<string, string | undefined> } };
g.process ??= { env: {} };
export {};
