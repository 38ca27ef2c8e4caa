//! One group's [`GroupStore`] in a [`SqliteDatabase`](super::SqliteDatabase):
//! every statement names the group, and the latest seq and member count are
//! kept in memory so that an append or a join reads nothing first.

use super::database::{Shared, SharedConnection, lock};
use super::{
    BACKWARD_SQL, DATABASE_FILE, DUPLICATE_SQL, FIRST_SEQ_SINCE_SQL, FORWARD_SQL, SEQ_BITS, SqliteDatabase,
    message_key, seq_of,
};
use crate::protocol::timestamp::Micros;
use crate::store::{Access, Appended, GroupStore, History, Page, StoreError, StoredMessage};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::MutexGuard;

/// The name of the one group in a lone group's database.
const LONE_GROUP: &str = "";

pub struct SqliteStore {
    shared: SharedConnection,
    /// The group's id in the database.
    group: i64,
    /// The latest message's seq and time, committed or in the open batch.
    latest_seq: u64,
    latest_at: Micros,
    /// The number of members, kept here so that a join need not count them.
    members: u64,
}

/// The database's connection, held for as long as this lives.
pub struct ConnectionGuard<'a>(MutexGuard<'a, Shared>);

impl std::ops::Deref for ConnectionGuard<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.0.connection
    }
}

impl SqliteStore {
    /// Opens (or creates) a lone group's store in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_with_limit(dir, None)
    }

    /// Opens a lone group's store, refusing to grow its file beyond `max_bytes`.
    pub fn open_with_limit(dir: &Path, max_bytes: Option<u64>) -> Result<SqliteStore, StoreError> {
        SqliteDatabase::open(dir, DATABASE_FILE, max_bytes)?.group(LONE_GROUP)
    }

    /// Group `group` of the shared connection.
    pub(super) fn on(shared: SharedConnection, group: i64) -> Result<SqliteStore, StoreError> {
        let mut store = SqliteStore { shared, group, latest_seq: 0, latest_at: Micros::MIN, members: 0 };
        store.reload()?;
        Ok(store)
    }

    pub(super) fn id(&self) -> i64 {
        self.group
    }

    /// The underlying connection, for tests that inspect query plans.
    pub fn connection(&self) -> ConnectionGuard<'_> {
        ConnectionGuard(lock(&self.shared))
    }

    /// Reads back what is kept in memory from what is committed.
    fn reload(&mut self) -> rusqlite::Result<()> {
        let shared = lock(&self.shared);
        let latest: Option<(i64, Micros)> = shared
            .connection
            .prepare_cached("SELECT key, at FROM messages WHERE key >= ?1 AND key < ?2 ORDER BY key DESC LIMIT 1")?
            .query_row([self.key(0), self.key_after_all()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?;
        let members: i64 = shared
            .connection
            .prepare_cached("SELECT COUNT(*) FROM members WHERE group_id = ?1")?
            .query_row([self.group], |row| row.get(0))?;
        drop(shared);
        (self.latest_seq, self.latest_at) = latest.map_or((0, Micros::MIN), |(key, at)| (seq_of(key), at));
        self.members = members as u64;
        Ok(())
    }

    fn first_seq_since(&mut self, since: Micros) -> Result<u64, StoreError> {
        let shared = lock(&self.shared);
        let mut statement = shared.connection.prepare_cached(FIRST_SEQ_SINCE_SQL)?;
        let seq: Option<i64> = statement.query_row(params![self.group, since], |row| row.get(0)).optional()?;
        // Nothing that late: an empty range past the end.
        Ok(seq.map_or(u64::MAX, seq_of))
    }

    /// Up to `limit` messages of the seqs in `low..high`, in the order `sql`
    /// reads them; and whether reading stopped at `max_bytes` with more left.
    fn read_range(
        &mut self,
        sql: &str,
        low: u64,
        high: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<StoredMessage>, bool), StoreError> {
        let shared = lock(&self.shared);
        let mut statement = shared.connection.prepare_cached(sql)?;
        let (low, high) = (self.key(low), if high >= 1 << SEQ_BITS { self.key_after_all() } else { self.key(high) });
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = statement.query(params![low, high, limit])?;
        let (mut messages, mut bytes) = (Vec::new(), 0usize);
        while let Some(row) = rows.next()? {
            if bytes > max_bytes {
                return Ok((messages, true));
            }
            let message =
                StoredMessage { seq: seq_of(row.get(0)?), user_uuid: row.get(1)?, body: row.get(2)?, at: row.get(3)? };
            // A time is rendered in 19 bytes.
            bytes += message.user_uuid.len() + message.body.len() + 19;
            messages.push(message);
        }
        Ok((messages, false))
    }

    /// The key of this group's message `seq`.
    fn key(&self, seq: u64) -> i64 {
        message_key(self.group, seq)
    }

    /// The first key past every message of this group.
    fn key_after_all(&self) -> i64 {
        message_key(self.group + 1, 0)
    }

    /// Runs a statement that changes rows of this group; how many it changed.
    fn change(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize, StoreError> {
        Ok(lock(&self.shared).connection.prepare_cached(sql)?.execute(params)?)
    }
}

/// Inside a host's batch, `begin` and `commit` join it (the host commits),
/// and only the host rolls the database back; a group's `rollback` then
/// reads back what it keeps in memory.
impl GroupStore for SqliteStore {
    fn begin(&mut self) -> Result<(), StoreError> {
        let shared = lock(&self.shared);
        if shared.connection.is_autocommit() {
            shared.connection.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        let committed = {
            let shared = lock(&self.shared);
            if shared.in_host_batch {
                return Ok(());
            }
            shared.connection.prepare_cached("COMMIT").and_then(|mut commit| commit.execute([]))
        };
        if let Err(error) = committed {
            self.rollback();
            return Err(error.into());
        }
        Ok(())
    }

    fn rollback(&mut self) {
        {
            let shared = lock(&self.shared);
            if !shared.in_host_batch && !shared.connection.is_autocommit() {
                // A failed rollback leaves nothing to undo: SQLite has
                // already rolled the transaction back.
                let _ = shared.connection.execute_batch("ROLLBACK");
            }
        }
        // Should the read fail, the next append fails alike (the database
        // is unreadable): no seq is given twice.
        let _ = self.reload();
    }

    fn is_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let shared = lock(&self.shared);
        let mut statement =
            shared.connection.prepare_cached("SELECT 1 FROM members WHERE group_id = ?1 AND user_uuid = ?2")?;
        Ok(statement.exists(params![self.group, user_uuid])?)
    }

    fn add_member(&mut self, user_uuid: &str, at: Micros) -> Result<bool, StoreError> {
        let sql = "INSERT OR IGNORE INTO members (group_id, user_uuid, joined_at) VALUES (?1, ?2, ?3)";
        let added = self.change(sql, params![self.group, user_uuid, at])? == 1;
        self.members += u64::from(added);
        Ok(added)
    }

    fn remove_member(&mut self, user_uuid: &str) -> Result<bool, StoreError> {
        let sql = "DELETE FROM members WHERE group_id = ?1 AND user_uuid = ?2";
        let removed = self.change(sql, params![self.group, user_uuid])? == 1;
        self.members -= u64::from(removed);
        Ok(removed)
    }

    fn member_count(&mut self) -> Result<u64, StoreError> {
        Ok(self.members)
    }

    fn set_nick(&mut self, user_uuid: &str, nick: &str) -> Result<bool, StoreError> {
        let sql = "UPDATE members SET nick = ?3 WHERE group_id = ?1 AND user_uuid = ?2";
        Ok(self.change(sql, params![self.group, user_uuid, nick])? == 1)
    }

    fn nicks(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let shared = lock(&self.shared);
        let mut statement = shared
            .connection
            .prepare_cached("SELECT user_uuid, nick FROM members WHERE group_id = ?1 AND nick IS NOT NULL")?;
        let rows = statement.query_map([self.group], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    fn append(
        &mut self,
        user_uuid: &str,
        body: &str,
        msg_id: Option<&str>,
        at: Micros,
    ) -> Result<Appended, StoreError> {
        let at = at.max(self.latest_at);
        let seq = self.latest_seq + 1;
        // The unique index on (msg_id, user_uuid, group) is the duplicate
        // check: a new message (the common case) costs one insert, and only
        // an id already stored costs a look-up to tell a retry from a conflict.
        if seq >= 1 << SEQ_BITS {
            return Err(StoreError::Backend("the group holds as many messages as a group can (2^40)".into()));
        }
        let insert = "INSERT INTO messages (key, group_id, user_uuid, body, at, msg_id) \
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING";
        if self.change(insert, params![self.key(seq), self.group, user_uuid, body, at, msg_id])? == 0 {
            let shared = lock(&self.shared);
            let mut statement = shared.connection.prepare_cached(DUPLICATE_SQL)?;
            let known: Option<(i64, bool)> = statement
                .query_row(params![self.group, user_uuid, msg_id.unwrap_or_default(), body], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })
                .optional()?;
            return match known {
                Some((key, true)) => Ok(Appended::Duplicate { seq: seq_of(key) }),
                Some((key, false)) => Ok(Appended::Conflict { seq: seq_of(key) }),
                None => Err(StoreError::Backend(
                    format!("message {seq} was not stored, and no message holds its id").into(),
                )),
            };
        }
        (self.latest_seq, self.latest_at) = (seq, at);
        Ok(Appended::New(StoredMessage { seq, user_uuid: user_uuid.to_owned(), body: body.to_owned(), at }))
    }

    fn latest_seq(&mut self) -> Result<u64, StoreError> {
        Ok(self.latest_seq)
    }

    fn access(&mut self) -> Result<Access, StoreError> {
        let shared = lock(&self.shared);
        let (owner, private): (Option<String>, bool) = shared
            .connection
            .prepare_cached("SELECT owner, private FROM groups WHERE id = ?1")?
            .query_row([self.group], |row| Ok((row.get(0)?, row.get(1)?)))?;
        let mut statement = shared.connection.prepare_cached("SELECT user_uuid FROM allowed WHERE group_id = ?1")?;
        let allowed = statement.query_map([self.group], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(Access { owner, private, allowed })
    }

    fn set_access(&mut self, access: &Access) -> Result<(), StoreError> {
        let sql = "UPDATE groups SET owner = ?2, private = ?3 WHERE id = ?1";
        self.change(sql, params![self.group, access.owner, access.private])?;
        self.change("DELETE FROM allowed WHERE group_id = ?1", [self.group])?;
        for user_uuid in &access.allowed {
            self.change("INSERT INTO allowed (group_id, user_uuid) VALUES (?1, ?2)", params![self.group, user_uuid])?;
        }
        Ok(())
    }

    fn messages(&mut self, page: &Page) -> Result<History, StoreError> {
        let mut low = page.after_seq.map_or(0, |seq| seq.saturating_add(1));
        if let Some(since) = page.since {
            low = low.max(self.first_seq_since(since)?);
        }
        let high = page.before_seq.unwrap_or(u64::MAX);
        let max_bytes = page.max_bytes.unwrap_or(usize::MAX);
        let Some(limit) = page.limit else {
            let (messages, more) = self.read_range(FORWARD_SQL, low, high, usize::MAX, max_bytes)?;
            return Ok(History { messages, more });
        };
        let fetch = limit.saturating_add(1);
        let forward = page.after_seq.is_some();
        let sql = if forward { FORWARD_SQL } else { BACKWARD_SQL };
        let (mut messages, cut) = self.read_range(sql, low, high, fetch, max_bytes)?;
        let more = cut || messages.len() > limit;
        messages.truncate(limit);
        if !forward {
            messages.reverse();
        }
        Ok(History { messages, more })
    }
}
