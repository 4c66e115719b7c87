// Typed access to bench/apps/payloads.mjs, the one definition of the bodies every stack serves.
// Re-declared here because the apps are plain JavaScript outside the TypeScript build.
export const HELLO = 'Hello, World!\n';
export const DOWNLOAD_BYTES = 1024 * 1024;
export const UPLOAD_BYTES = 100 * 1024;
export const BIG_BYTES = 64 * 1024 * 1024;
export const BIG_CHUNK = 1024 * 1024;

/** The JSON document, from the apps' own module (so nginx and the C responder serve the same bytes). */
export async function jsonBody(root: string): Promise<string> {
  const { pathToFileURL } = await import('node:url');
  const mod = (await import(pathToFileURL(`${root}/bench/apps/payloads.mjs`).href)) as { jsonDoc(): unknown };
  return JSON.stringify(mod.jsonDoc());
}
