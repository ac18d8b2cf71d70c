import { createRequire as __opCreateRequire } from 'node:module'; import { fileURLToPath as __opFileURLToPath } from 'node:url'; import { dirname as __opDirname } from 'node:path'; const require = __opCreateRequire(import.meta.url); const __filename = __opFileURLToPath(import.meta.url); const __dirname = __opDirname(__filename);

// src/common/errors.ts
var ExitCode = {
  ok: 0,
  testsFailed: 1,
  pipelineError: 2,
  usageError: 3
};
var ConfigError = class extends Error {
  exitCode = ExitCode.usageError;
  constructor(message) {
    super(message);
    this.name = "ConfigError";
  }
};
var PipelineError = class extends Error {
  constructor(stage, message, options) {
    super(message, options);
    this.stage = stage;
    this.name = "PipelineError";
  }
  stage;
  exitCode = ExitCode.pipelineError;
};
var HostKeyMismatchError = class extends Error {
  exitCode = ExitCode.pipelineError;
  constructor(message) {
    super(message);
    this.name = "HostKeyMismatchError";
  }
};
var CancelledError = class extends Error {
  constructor(message, reason = "cancelled") {
    super(message);
    this.reason = reason;
    this.name = "CancelledError";
  }
  reason;
};
function errorMessage(error) {
  return error instanceof Error ? error.message : String(error);
}
function exitCodeOf(error) {
  if (error && typeof error === "object" && "exitCode" in error) {
    const code = error.exitCode;
    if (code === ExitCode.usageError || code === ExitCode.pipelineError) return code;
  }
  return ExitCode.pipelineError;
}

export {
  ExitCode,
  ConfigError,
  PipelineError,
  HostKeyMismatchError,
  CancelledError,
  errorMessage,
  exitCodeOf
};
//# sourceMappingURL=chunk-DDK2HIRZ.js.map
