//! Who may read a layer, decided in one place for every read path.
//!
//! A layer's derived data (cluster pyramid, packed points, generalized
//! bands, stored tiles) and the raw index read hold whatever the source
//! showed whoever built or reads them, so they may serve a caller only when
//! that caller sees the source exactly as they do:
//!
//! - **Full**: SELECT on the table, or on every column the layer uses, and
//!   no row-level security applying to the caller. Derived data may serve.
//! - **Row-filtered**: row-level security applies to the caller, the source
//!   is a `security_invoker` view (its rows depend on who reads it) or a
//!   foreign table (its rows may depend on the user mapping). Tiles are made
//!   from the rows the caller's own query returns; derived data is never
//!   used, and functions that can only answer from it refuse with `42501`.
//! - **Denied**: neither the table nor all of the layer's columns may be
//!   read: `42501`, naming the table or column and the grant that would
//!   allow it.
//!
//! Derived tables are readable by their owner only. Our queries over them
//! run as that owner ([`AsRole`], through `rows::Plan::run_as`) once the
//! caller has been found to have full access.

use pgrx::pg_sys::{self, Oid};

use crate::error::*;

/// What the current user may read of a layer's source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Full,
    RowFiltered,
}

/// The facts about a layer's source the decision needs, read when its plan
/// is loaded.
#[derive(Clone, Debug)]
pub struct SourceFacts {
    pub relid: Oid,
    /// Schema-qualified and quoted, for messages.
    pub name: String,
    /// The rows depend on who reads them whatever the policies say: a
    /// `security_invoker` view or a foreign table.
    pub rows_depend_on_reader: bool,
    /// (attribute number, name) of every column the layer reads: id,
    /// geometry, attributes.
    pub columns: Vec<(i16, String)>,
}

impl SourceFacts {
    /// Decides for the current user; `42501` when it may not read the
    /// source at all.
    pub fn decide(&self) -> SqlResult<Access> {
        // SAFETY: catalog lookups by oid and attribute number.
        unsafe {
            let user = pg_sys::GetUserId();
            let select = pg_sys::ACL_SELECT as pg_sys::AclMode;
            let table_ok = pg_sys::pg_class_aclcheck(self.relid, user, select) == pg_sys::AclResult::ACLCHECK_OK;
            if !table_ok {
                let denied = self.columns.iter().find(|(attnum, _)| {
                    pg_sys::pg_attribute_aclcheck(self.relid, *attnum, user, select) != pg_sys::AclResult::ACLCHECK_OK
                });
                if let Some((_, column)) = denied {
                    let any_column = self.columns.iter().any(|(attnum, _)| {
                        pg_sys::pg_attribute_aclcheck(self.relid, *attnum, user, select)
                            == pg_sys::AclResult::ACLCHECK_OK
                    });
                    let message = if any_column {
                        format!("permission denied for column {} of table {}", quote_ident(column), self.name)
                    } else {
                        format!("permission denied for table {}", self.name)
                    };
                    return Err(SqlError::new(ERRCODE_INSUFFICIENT_PRIVILEGE, message).hint(format!(
                        "A layer's tiles need SELECT on its table, or on each column it uses ({}): GRANT SELECT ON {} TO {};",
                        self.columns.iter().map(|(_, c)| quote_ident(c)).collect::<Vec<_>>().join(", "),
                        self.name,
                        current_role_name()
                    )));
                }
            }
            // Raises, as a query would, when row_security = off and a
            // policy would apply.
            let rls = pg_sys::check_enable_rls(self.relid, Oid::INVALID, false);
            if rls == pg_sys::CheckEnableRlsResult::RLS_ENABLED as i32 || self.rows_depend_on_reader {
                return Ok(Access::RowFiltered);
            }
        }
        Ok(Access::Full)
    }

    /// Like [`Self::decide`], for functions that can only answer from
    /// derived data: row-filtered access is refused with `42501`.
    pub fn require_full(&self, layer: &str, what: &str) -> SqlResult<()> {
        match self.decide()? {
            Access::Full => Ok(()),
            Access::RowFiltered => Err(SqlError::new(
                ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!(
                    "{what} of layer \"{layer}\" cannot be shown to role {}: row-level security (or a view that \
                     depends on its reader) limits the rows it may see of {}, and {what} holds every row",
                    current_role_name(),
                    self.name
                ),
            )
            .hint(format!(
                "Tiles of the layer show this role its own rows. To see {what}, the role needs to read all of {} \
                 (a policy that passes every row, or BYPASSRLS).",
                self.name
            ))),
        }
    }
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Full => "full",
            Access::RowFiltered => "row_filtered",
        }
    }
}

/// A decision as SQL names it; `denied` for an error (no privilege, or
/// `row_security = off` where a policy applies).
pub fn decision_name(decision: SqlResult<Access>) -> &'static str {
    match decision {
        Ok(access) => access.as_str(),
        Err(_) => "denied",
    }
}

/// An identifier as PostgreSQL prints it (quoted only when it must be), for
/// messages.
fn quote_ident(name: &str) -> String {
    let Ok(c) = std::ffi::CString::new(name) else { return gridkit_sqltext::quote_ident(name) };
    // SAFETY: quote_identifier returns its argument or a palloc'd copy.
    unsafe { std::ffi::CStr::from_ptr(pg_sys::quote_identifier(c.as_ptr())).to_string_lossy().into_owned() }
}

/// The current role's name, quoted, for hints.
pub fn current_role_name() -> String {
    // SAFETY: a name lookup of the current user, which exists.
    let name = unsafe {
        let p = pg_sys::GetUserNameFromId(pg_sys::GetUserId(), true);
        if p.is_null() {
            return "CURRENT_ROLE".to_string();
        }
        std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    quote_ident(&name)
}

/// While alive, the backend runs as another role with restricted security
/// (`SECURITY_RESTRICTED_OPERATION`: no SET ROLE, no temporary objects, as
/// VACUUM and REINDEX run a table owner's index expressions). Dropped (also
/// while unwinding from an error), it restores the previous user and
/// context; an error's transaction abort restores them as well.
pub struct AsRole {
    user: Oid,
    context: i32,
}

impl AsRole {
    /// As `role`, with restricted security: for reading or writing what
    /// `role` owns, where its own code (views, triggers) may run.
    pub fn switch(role: Oid) -> AsRole {
        AsRole::with_context(role, pg_sys::SECURITY_RESTRICTED_OPERATION as i32)
    }

    /// As the extension's owner, for gridkit's own bookkeeping on behalf of
    /// a layer manager the caller has been checked to be
    /// ([`require_layer_manager`]): the registry, the change-counting
    /// triggers, build tables and their membership in the extension. No
    /// user code runs under it: a build reads its source as the source's
    /// owner ([`AsRole::switch`]).
    pub fn extension_owner() -> SqlResult<AsRole> {
        Ok(AsRole::with_context(extension_owner()?, 0))
    }

    fn with_context(role: Oid, extra: i32) -> AsRole {
        let mut user = Oid::INVALID;
        let mut context = 0;
        // SAFETY: reads and sets the backend's user id and security context.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(role, context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | extra);
        }
        AsRole { user, context }
    }
}

/// The owner of the extension (whoever ran CREATE EXTENSION, a superuser).
pub fn extension_owner() -> SqlResult<Oid> {
    let missing = || SqlError::new(ERRCODE_UNDEFINED_OBJECT, "extension \"gridkit\" is not installed");
    pgrx::Spi::get_one::<Oid>("SELECT extowner FROM pg_catalog.pg_extension WHERE extname = 'gridkit'")
        .map_err(SqlError::from)?
        .ok_or_else(missing)
}

/// The owner of relation `relid`, `None` when there is no such relation.
pub fn relation_owner(relid: Oid) -> Option<Oid> {
    // SAFETY: a syscache lookup of the relation's row, released at once.
    unsafe {
        let tuple = pg_sys::SearchSysCache1(pg_sys::SysCacheIdentifier::RELOID as i32, pg_sys::Datum::from(relid));
        if tuple.is_null() {
            return None;
        }
        let owner = (*(pg_sys::GETSTRUCT(tuple) as *mut pg_sys::FormData_pg_class)).relowner;
        pg_sys::ReleaseSysCache(tuple);
        Some(owner)
    }
}

/// Whether the current user has the privileges of `role` (is it, a member
/// of it, or a superuser).
pub fn has_privileges_of(role: Oid) -> bool {
    // SAFETY: a role membership check.
    unsafe { pg_sys::has_privs_of_role(pg_sys::GetUserId(), role) }
}

/// Managing a layer (registering, dropping, building it) installs triggers
/// on its source and publishes it to tiles and the api: a role may do it
/// for sources it owns (or whose owner role it belongs to); superusers for
/// any. Roles also need EXECUTE on the function, which an administrator
/// grants (execution is revoked from PUBLIC).
pub fn require_layer_manager(relid: Oid, layer: &str) -> SqlResult<()> {
    let Some(owner) = relation_owner(relid) else {
        return Err(SqlError::new(
            ERRCODE_UNDEFINED_TABLE,
            format!("the source of layer \"{layer}\" no longer exists"),
        ));
    };
    if has_privileges_of(owner) {
        return Ok(());
    }
    let name = relation_name(relid);
    Err(SqlError::new(
        ERRCODE_INSUFFICIENT_PRIVILEGE,
        format!("role {} may not manage layer \"{layer}\": it does not own its source {name}", current_role_name()),
    )
    .hint("A layer is managed by its source's owner (or a member of the owner role) or a superuser."))
}

/// The relation's name (unqualified), for messages; empty if it is gone.
fn relation_name(relid: Oid) -> String {
    // SAFETY: a relation name lookup.
    unsafe {
        let p = pg_sys::get_rel_name(relid);
        if p.is_null() {
            String::new()
        } else {
            std::ffi::CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    }
}

/// Acting on a table's rows as its owner (moving, archiving or restoring
/// them) takes the owner's rights already: being it, a member of it, or a
/// superuser. Returns the owner.
pub fn require_owner_rights(relid: Oid, what: &str) -> SqlResult<Oid> {
    let owner = relation_owner(relid)
        .ok_or_else(|| SqlError::new(ERRCODE_UNDEFINED_TABLE, format!("relation {relid} does not exist")))?;
    if !has_privileges_of(owner) {
        return Err(SqlError::new(
            ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("must be owner of table {} to {what}", relation_name(relid)),
        ));
    }
    Ok(owner)
}

impl Drop for AsRole {
    fn drop(&mut self) {
        // SAFETY: restores what `switch` read.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}
