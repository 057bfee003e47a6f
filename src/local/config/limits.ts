/**
 * Bounds on config input. Config files are tiny in practice; the bounds keep a hostile or broken file
 * (a device, a log file pointed at by mistake, a "billion laughs" chain of $VAR doublings) from
 * costing memory or time.
 */
export const CONFIG_LIMITS = {
  /** Largest config file accepted, in bytes. */
  maxFileBytes: 64 * 1024,
  /** Longest line accepted, in characters (after UTF-8 decoding). */
  maxLineChars: 4096,
  /** Longest value accepted after $VAR and ~ expansion, in characters. */
  maxValueChars: 4096,
  /** Most elements one array variable (BUILD, INCLUDE, DEFINE, RELEASE) may hold. */
  maxArrayElements: 256,
  /** Most *.conf files read from CONFIG_PATH. */
  maxConfFiles: 1000,
} as const;
