// commander's own parse errors (unknown command or option, a missing value, extra arguments) as StnetErrors, so they
// print in the one form every other error has ("stnet: error E_USAGE: ...") and exit 2. commander has no hook for
// the error's text other than its writer, which sees neither the command nor the arguments: overriding error() on
// the program's class (inherited by every subcommand through createCommand) sees both.
import { Command } from 'commander';
import { StnetError } from '../errors.js';

export class StnetCommand extends Command {
  override createCommand(name?: string): Command {
    return new StnetCommand(name);
  }

  override error(message: string, errorOptions?: { code?: string; exitCode?: number }): never {
    throw usageError(this, message, errorOptions?.code);
  }
}

/** "stnet weights path" for that subcommand. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c !== null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** An argument as the user would type it again in a POSIX shell. */
function shellWord(arg: string): string {
  return /^[\w./:@%+,=-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

function usageError(cmd: Command, message: string, code: string | undefined): StnetError {
  const path = commandPath(cmd);
  // commander's text: "error: unknown option '--x'\n(Did you mean --y?)"; keep one line.
  let text = message.replace(/^error: /, '').replace(/\n\(Did you mean (.+)\?\)$/, '; did you mean $1?');
  if (code === 'commander.excessArguments') {
    const extra = cmd.args.map(shellWord);
    text =
      path === 'stnet run'
        ? `stnet run takes no bare arguments (got ${extra.join(' ')}): use --input_path ${extra.join(' ')}`
        : `unexpected argument${extra.length === 1 ? '' : 's'} ${extra.join(' ')} for ${path}, which takes none`;
  }
  return new StnetError('E_USAGE', `${text} (see ${path} --help)`);
}
