//! Where the client's command lines come from: a line editor at a terminal
//! (history, completion of commands and group names, and a printer that
//! writes above the prompt without breaking the line being typed), or a pipe.

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, ExternalPrinter, Helper};
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Words the editor completes at the start of a line.
const COMMANDS: &[&str] = &[
    "/create",
    "/invite",
    "/remove",
    "/delete",
    "/whoami",
    "/nick",
    "/join",
    "/leave",
    "/msg",
    "/history",
    "/groups",
    "/help",
    "/quit",
    "join_group",
    "leave_group",
    "send_message",
    "get_messages",
    "get_group_list",
    "help",
    "exit",
];
/// Lines of input history kept in the config directory.
const HISTORY_FILE: &str = "history.txt";

/// Where command lines come from.
pub trait LineSource {
    /// The next line, without its line ending; `None` at the end of input.
    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>>;
}

/// Lines from a pipe or a file: no prompts.
pub struct Piped<R>(pub R);

impl<R: BufRead> LineSource for Piped<R> {
    fn read_line(&mut self, _prompt: &str) -> io::Result<Option<String>> {
        let mut line = String::new();
        if self.0.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        Ok(Some(line))
    }
}

/// Group names for completion, shared with whoever learns them.
pub type KnownGroups = Arc<Mutex<Vec<String>>>;

/// Prints above the prompt, from any thread.
pub type SharedPrinter = Arc<Mutex<Box<dyn ExternalPrinter + Send>>>;

struct ChatHelper {
    groups: KnownGroups,
}

impl Completer for ChatHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let typed = &line[..pos];
        let Some(space) = typed.find(' ') else {
            let commands = COMMANDS.iter().filter(|command| command.starts_with(typed));
            return Ok((0, commands.map(|c| Pair { display: c.to_string(), replacement: c.to_string() }).collect()));
        };
        let (command, start) = (&typed[..space], space + 1);
        // A name after /join or /leave runs to the end of the line, spaces
        // and all; after /msg a text follows, so a name with spaces is quoted.
        let (word, quote) = match command {
            "/join" | "/leave" => (&typed[start..], false),
            "/msg" if !typed[start..].trim_start_matches('"').contains(' ') => (&typed[start..], true),
            _ => {
                let start = typed.rfind(' ').map_or(0, |space| space + 1);
                return Ok((start, self.names_from(&typed[start..], false)));
            }
        };
        Ok((start, self.names_from(word, quote)))
    }
}

impl ChatHelper {
    /// The group names that start with `word` (a leading quote aside), each
    /// quoted when `quote` and it holds a space.
    fn names_from(&self, word: &str, quote: bool) -> Vec<Pair> {
        let prefix = word.trim_start_matches('"');
        let names = self.groups.lock().map(|groups| groups.clone()).unwrap_or_default();
        let matching = names.into_iter().filter(|name| name.starts_with(prefix));
        let pair = |name: String| {
            let replacement = if quote && name.contains(' ') { format!("\"{name}\" ") } else { name.clone() };
            Pair { display: name, replacement }
        };
        matching.map(pair).collect()
    }
}

impl Hinter for ChatHelper {
    type Hint = String;
}
impl Highlighter for ChatHelper {}
impl Validator for ChatHelper {}
impl Helper for ChatHelper {}

/// Lines typed at the terminal.
pub struct Terminal {
    editor: Editor<ChatHelper, DefaultHistory>,
    history_file: PathBuf,
}

impl Terminal {
    pub fn new(config_dir: &Path, groups: KnownGroups) -> rustyline::Result<Terminal> {
        let mut editor = Editor::new()?;
        editor.set_helper(Some(ChatHelper { groups }));
        let history_file = config_dir.join(HISTORY_FILE);
        let _ = editor.load_history(&history_file);
        Ok(Terminal { editor, history_file })
    }

    /// Something other threads print through, above the prompt.
    pub fn printer(&mut self) -> rustyline::Result<SharedPrinter> {
        let printer = self.editor.create_external_printer()?;
        Ok(Arc::new(Mutex::new(Box::new(printer))))
    }
}

impl LineSource for Terminal {
    /// The next line; Ctrl-C drops the line being typed and asks again (as
    /// bash and every readline program do), Ctrl-D at an empty line ends.
    fn read_line(&mut self, prompt: &str) -> io::Result<Option<String>> {
        loop {
            return match self.editor.readline(prompt) {
                Ok(line) => {
                    if !line.trim().is_empty() {
                        let _ = self.editor.add_history_entry(line.as_str());
                    }
                    Ok(Some(line))
                }
                Err(ReadlineError::Interrupted) => continue,
                Err(ReadlineError::Eof) => Ok(None),
                Err(error) => Err(io::Error::other(error)),
            };
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // Losing the input history is not worth an error at exit.
        let _ = self.editor.save_history(&self.history_file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines Tab offers for `line`.
    fn completions(line: &str) -> Vec<String> {
        let names = vec!["Cool Group".to_owned(), "lobby".to_owned()];
        let helper = ChatHelper { groups: Arc::new(Mutex::new(names)) };
        let history = DefaultHistory::new();
        let (start, pairs) = helper.complete(line, line.len(), &Context::new(&history)).unwrap();
        pairs.into_iter().map(|pair| format!("{}{}", &line[..start], pair.replacement)).collect()
    }

    #[test]
    fn tab_completes_names_with_spaces_as_each_command_takes_them() {
        assert_eq!(completions("/join Co"), ["/join Cool Group"]);
        assert_eq!(completions("/join Cool G"), ["/join Cool Group"]);
        assert_eq!(completions("/leave lo"), ["/leave lobby"]);
        assert_eq!(completions("/msg Co"), ["/msg \"Cool Group\" "]);
        assert_eq!(completions("/msg \"Co"), ["/msg \"Cool Group\" "]);
        assert_eq!(completions("/jo"), ["/join"]);
    }
}
