// Shared by the samples: a failure Quark reports (an AmqpError: a refused connection, a failed
// login, a broker without a feature the sample needs) ends the sample with one line on stderr,
// the error's message and its AMQP condition, and exit code 1, instead of a stack trace. Anything
// else is a bug, and still prints its stack. Not a sample itself.
import { AmqpError, HandlerError } from '../dist/esm/index.js';

/** Ends the process on an uncaught AmqpError (or a handler's failure caused by one) with one line. */
export function exitOnAmqpError(sample) {
  const onFailure = (error) => {
    // A Container reports a failed handler call as a HandlerError; what failed is its cause.
    const failure = error instanceof HandlerError && error.cause instanceof AmqpError ? error.cause : error;
    if (failure instanceof AmqpError) {
      const text = failure.message.replace(/\s+/g, ' ').trim();
      console.error(`${sample}: ${text}${text.includes(failure.condition) ? '' : ` (${failure.condition})`}`);
    } else {
      console.error(`${sample}: unexpected failure: ${error instanceof Error ? error.stack : String(error)}`);
    }
    process.exit(1);
  };
  process.on('uncaughtException', onFailure);
  process.on('unhandledRejection', onFailure);
}
