// The --redis URL: checked before any network work, shown without its password. No ioredis here, so the
// CLI can check flags without loading it.
import { invalidOption } from '../errors.js';

/** Checks the URL's shape (redis:// or rediss://) before any network work; returns it unchanged. */
export function checkRedisUrl(url: unknown, name = 'redis'): string {
  if (typeof url !== 'string' || url === '') throw invalidOption(name, 'a redis://host:port URL', url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalidOption(name, 'a redis://host:port URL', url);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw invalidOption(name, 'a redis:// or rediss:// URL', redactUrl(url));
  if (parsed.hostname === '') throw invalidOption(name, 'a redis:// URL with a host', redactUrl(url));
  return url;
}

/** The URL with any password replaced, for messages and logs (flags show in ps, but logs travel further). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
