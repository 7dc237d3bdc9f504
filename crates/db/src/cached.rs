//! Hand-written SQL that PostgreSQL prepares once per connection.
//!
//! diesel marks `sql_query`, every `UPDATE`, `ON CONFLICT DO UPDATE` and multi-row
//! `INSERT` as unsafe to cache, so each execution pays a separate prepare round-trip: twice
//! the round-trips, on exactly the statements a batch pipeline runs most. The wire counter
//! showed it. Hot paths therefore use [`sql`]: a static SQL text with positional binds,
//! cached by its text like any diesel query with a static shape.
//!
//! Placeholders must appear as `$1`, `$2`, ... in order, each once; bind values in the
//! same order. Arrays (`UNNEST($1::bigint[])`) keep the text fixed for any batch size.

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::result::Error;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};
use std::marker::PhantomData;

/// A static statement and its binds.
#[must_use = "queries run only when executed"]
pub struct Sql<B> {
    text: &'static str,
    binds: B,
}

/// Starts a cached statement.
pub fn sql(text: &'static str) -> Sql<()> {
    Sql { text, binds: () }
}

/// One bound value and its SQL type.
pub struct Bound<ST, V> {
    value: V,
    _st: PhantomData<ST>,
}

impl<B> Sql<B> {
    /// Binds the next placeholder.
    pub fn bind<ST, V>(self, value: V) -> Sql<(B, Bound<ST, V>)> {
        Sql {
            text: self.text,
            binds: (
                self.binds,
                Bound {
                    value,
                    _st: PhantomData,
                },
            ),
        }
    }
}

/// The text between placeholders: `pieces[k]` follows placeholder `k`.
fn pieces(text: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut expect = 1;
    while let Some(pos) = rest.find('$') {
        let digits: usize = rest[pos + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            return Err(format!("stray '$' in cached SQL: {text}"));
        }
        let n: usize = rest[pos + 1..pos + 1 + digits]
            .parse()
            .map_err(|_| "placeholder".to_string())?;
        if n != expect {
            return Err(format!(
                "placeholders must be $1, $2, ... in order: found ${n}, expected ${expect}"
            ));
        }
        out.push(&rest[..pos]);
        rest = &rest[pos + 1 + digits..];
        expect += 1;
    }
    out.push(rest);
    Ok(out)
}

/// A chain of bound values, walked oldest first.
pub trait BindChain {
    /// Pushes binds and the SQL pieces that follow them.
    fn walk<'b>(
        &'b self,
        pieces: &mut std::slice::Iter<'_, &str>,
        out: &mut AstPass<'_, 'b, Pg>,
    ) -> Result<(), Error>;
}

impl BindChain for () {
    fn walk<'b>(
        &'b self,
        pieces: &mut std::slice::Iter<'_, &str>,
        out: &mut AstPass<'_, 'b, Pg>,
    ) -> Result<(), Error> {
        out.push_sql(pieces.next().copied().unwrap_or(""));
        Ok(())
    }
}

impl<B: BindChain, ST, V> BindChain for (B, Bound<ST, V>)
where
    Pg: HasSqlType<ST>,
    V: ToSql<ST, Pg>,
{
    fn walk<'b>(
        &'b self,
        pieces: &mut std::slice::Iter<'_, &str>,
        out: &mut AstPass<'_, 'b, Pg>,
    ) -> Result<(), Error> {
        self.0.walk(pieces, out)?;
        let piece = pieces
            .next()
            .ok_or_else(|| Error::QueryBuilderError("more binds than placeholders".into()))?;
        out.push_bind_param::<ST, V>(&self.1.value)?;
        out.push_sql(piece);
        Ok(())
    }
}

impl<B: BindChain> QueryFragment<Pg> for Sql<B> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> diesel::QueryResult<()> {
        let pieces = pieces(self.text).map_err(|e| Error::QueryBuilderError(e.into()))?;
        let mut it = pieces.iter();
        self.binds.walk(&mut it, &mut out)?;
        if it.next().is_some() {
            return Err(Error::QueryBuilderError(
                "fewer binds than placeholders".into(),
            ));
        }
        Ok(())
    }
}

impl<B> QueryId for Sql<B> {
    type QueryId = ();
    // No static id: the statement cache keys it by its SQL text and bind types.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<B> Query for Sql<B> {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::pieces;

    #[test]
    fn placeholders_split_in_order() {
        assert_eq!(
            pieces("SELECT $1 + $2").unwrap(),
            vec!["SELECT ", " + ", ""]
        );
        assert!(pieces("SELECT $2").is_err());
        assert!(pieces("SELECT $1, $1").is_err());
        assert_eq!(pieces("SELECT 1").unwrap(), vec!["SELECT 1"]);
    }
}
