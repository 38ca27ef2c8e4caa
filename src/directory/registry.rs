//! The groups the directory knows, keyed by address as the seed keys them:
//! registering an address again replaces its name and keeps its place.

use crate::protocol::group_list_entry;

#[derive(Debug, Default)]
pub struct Registry {
    /// `(address, name)` in the order the addresses first registered.
    groups: Vec<(String, String)>,
}

impl Registry {
    /// Records a registration; `true` when it changed the list.
    pub fn register(&mut self, name: &str, address: &str) -> bool {
        match self.groups.iter_mut().find(|(known, _)| known == address) {
            Some((_, known_name)) if known_name == name => false,
            Some((_, known_name)) => {
                *known_name = name.to_owned();
                true
            }
            None => {
                self.groups.push((address.to_owned(), name.to_owned()));
                true
            }
        }
    }

    /// The list as the seed sends it: `"NAME - IP:PORT"`.
    pub fn list(&self) -> Vec<String> {
        self.groups.iter().map(|(address, name)| group_list_entry(name, address)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re_registering_an_address_replaces_its_name_in_place() {
        let mut registry = Registry::default();
        assert!(registry.register("a", "h:1"));
        assert!(registry.register("b", "h:2"));
        assert!(!registry.register("b", "h:2"));
        assert!(registry.register("c", "h:1"));
        assert_eq!(registry.list(), ["c - h:1", "b - h:2"]);
    }
}
