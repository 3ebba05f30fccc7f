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

/// An identifier as PostgreSQL prints it (quoted only when it must be), for
/// messages.
fn quote_ident(name: &str) -> String {
    let Ok(c) = std::ffi::CString::new(name) else { return crate::layers::plan::quote_ident(name) };
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
    pub fn switch(role: Oid) -> AsRole {
        let mut user = Oid::INVALID;
        let mut context = 0;
        // SAFETY: reads and sets the backend's user id and security context.
        unsafe {
            pg_sys::GetUserIdAndSecContext(&mut user, &mut context);
            pg_sys::SetUserIdAndSecContext(
                role,
                context | pg_sys::SECURITY_LOCAL_USERID_CHANGE as i32 | pg_sys::SECURITY_RESTRICTED_OPERATION as i32,
            );
        }
        AsRole { user, context }
    }
}

impl Drop for AsRole {
    fn drop(&mut self) {
        // SAFETY: restores what `switch` read.
        unsafe { pg_sys::SetUserIdAndSecContext(self.user, self.context) };
    }
}
