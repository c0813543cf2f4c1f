//! A recursive-descent parser for the subset of CQL the project issues.
//!
//! It accepts what `schemas/cql/*.cql`, the speed job, the tests and the
//! `scylla` driver's own metadata queries send, and rejects anything else with
//! a syntax error naming what it expected, so an unsupported statement fails
//! loudly instead of being half-executed.

use super::ast::*;
use super::lexer::{tokenize, Token};
use crate::error::CqlError;
use crate::types::{CqlType, Literal};

/// Parses one statement (a trailing `;` is allowed).
pub fn parse(src: &str) -> Result<Statement, CqlError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { t: tokens, i: 0, markers: 0 };
    let stmt = p.statement()?;
    p.eat_sym(";");
    if p.i < p.t.len() {
        return Err(p.err("end of statement"));
    }
    Ok(stmt)
}

/// Splits a CQL script (a schema file) into statements at top-level `;`,
/// ignoring those inside strings and comments.
pub fn split_script(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = src.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                cur.push(c);
                for d in chars.by_ref() {
                    cur.push(d);
                    if d == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for d in chars.by_ref() {
                    if d == '\n' {
                        cur.push('\n');
                        break;
                    }
                }
            }
            ';' => {
                if !cur.trim().is_empty() {
                    out.push(cur.trim().to_string());
                }
                cur.clear();
            }
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

struct Parser {
    t: Vec<Token>,
    i: usize,
    /// Bind markers seen so far: a marker's index is its position in the statement.
    markers: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.t.get(self.i)
    }

    fn err(&self, expected: &str) -> CqlError {
        let found = match self.peek() {
            None => "end of input".to_string(),
            Some(t) => format!("{t:?}"),
        };
        CqlError::syntax(format!("expected {expected}, found {found}"))
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn kw(&mut self, kw: &str) -> Result<(), CqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.err(&format!("`{}`", kw.to_uppercase())))
        }
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Token::Sym(x)) if *x == s) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn sym(&mut self, s: &str) -> Result<(), CqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.err(&format!("`{s}`")))
        }
    }

    fn ident(&mut self) -> Result<String, CqlError> {
        match self.peek().cloned() {
            Some(Token::Ident(w)) | Some(Token::QuotedIdent(w)) => {
                self.i += 1;
                Ok(w)
            }
            _ => Err(self.err("an identifier")),
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("if") {
            self.kw("not")?;
            self.kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn if_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("if") {
            self.kw("exists")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn table_ref(&mut self) -> Result<TableRef, CqlError> {
        let first = self.ident()?;
        if self.eat_sym(".") {
            Ok(TableRef { keyspace: Some(first), table: self.ident()? })
        } else {
            Ok(TableRef { keyspace: None, table: first })
        }
    }

    fn statement(&mut self) -> Result<Statement, CqlError> {
        if self.eat_kw("use") {
            return Ok(Statement::Use(self.ident()?));
        }
        if self.eat_kw("create") {
            if self.eat_kw("keyspace") || self.eat_kw("schema") {
                return self.create_keyspace();
            }
            if self.eat_kw("table") || self.eat_kw("columnfamily") {
                return self.create_table();
            }
            return Err(self.err("KEYSPACE or TABLE"));
        }
        if self.eat_kw("drop") {
            if self.eat_kw("keyspace") {
                let if_exists = self.if_exists()?;
                return Ok(Statement::DropKeyspace { if_exists, name: self.ident()? });
            }
            if self.eat_kw("table") {
                let if_exists = self.if_exists()?;
                return Ok(Statement::DropTable { if_exists, table: self.table_ref()? });
            }
            return Err(self.err("KEYSPACE or TABLE"));
        }
        if self.eat_kw("truncate") {
            self.eat_kw("table");
            return Ok(Statement::Truncate(self.table_ref()?));
        }
        if self.eat_kw("insert") {
            return self.insert();
        }
        if self.eat_kw("update") {
            return self.update();
        }
        if self.eat_kw("delete") {
            return self.delete();
        }
        if self.eat_kw("select") {
            return self.select();
        }
        Err(self.err("a statement supported by cql-standin (USE, CREATE, DROP, TRUNCATE, INSERT, UPDATE, DELETE, SELECT)"))
    }

    fn create_keyspace(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.ident()?;
        let mut replication = Vec::new();
        let mut durable_writes = true;
        self.kw("with")?;
        loop {
            let opt = self.ident()?;
            self.sym("=")?;
            match opt.as_str() {
                "replication" => {
                    let Literal::Map(pairs) = self.literal()? else {
                        return Err(CqlError::syntax("replication must be a map"));
                    };
                    for (k, v) in pairs {
                        let text = |l: Literal| match l {
                            Literal::Str(s) => s,
                            other => other.to_string(),
                        };
                        replication.push((text(k), text(v)));
                    }
                }
                "durable_writes" => durable_writes = self.literal()? == Literal::Bool(true),
                _ => {
                    self.literal()?;
                }
            }
            if !self.eat_kw("and") {
                break;
            }
        }
        Ok(Statement::CreateKeyspace { name, if_not_exists, replication, durable_writes })
    }

    /// A type as written in DDL, re-assembled from tokens (`map < text , int >`).
    fn type_name(&mut self) -> Result<CqlType, CqlError> {
        let mut s = self.ident()?;
        if self.eat_sym("<") {
            s.push('<');
            let mut depth = 1;
            while depth > 0 {
                match self.peek().cloned() {
                    Some(Token::Sym("<")) => {
                        depth += 1;
                        s.push('<');
                    }
                    Some(Token::Sym(">")) => {
                        depth -= 1;
                        s.push('>');
                    }
                    Some(Token::Sym(",")) => s.push(','),
                    Some(Token::Ident(w)) => s.push_str(&w),
                    _ => return Err(self.err("a type parameter")),
                }
                self.i += 1;
            }
        }
        CqlType::parse(&s)
    }

    fn create_table(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let table = self.table_ref()?;
        self.sym("(")?;
        let mut columns = Vec::new();
        let mut partition_key = Vec::new();
        let mut clustering_names = Vec::new();
        loop {
            if self.eat_kw("primary") {
                self.kw("key")?;
                self.sym("(")?;
                if self.eat_sym("(") {
                    loop {
                        partition_key.push(self.ident()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.sym(")")?;
                } else {
                    partition_key.push(self.ident()?);
                }
                while self.eat_sym(",") {
                    clustering_names.push(self.ident()?);
                }
                self.sym(")")?;
            } else {
                let name = self.ident()?;
                let ty = self.type_name()?;
                if self.eat_kw("static") {
                    return Err(CqlError::invalid("static columns are not supported by cql-standin"));
                }
                if self.eat_kw("primary") {
                    self.kw("key")?;
                    partition_key.push(name.clone());
                }
                columns.push((name, ty));
            }
            if !self.eat_sym(",") {
                break;
            }
        }
        self.sym(")")?;
        let mut orders: Vec<(String, Order)> = Vec::new();
        let mut default_ttl = 0;
        if self.eat_kw("with") {
            loop {
                if self.eat_kw("clustering") {
                    self.kw("order")?;
                    self.kw("by")?;
                    self.sym("(")?;
                    loop {
                        let c = self.ident()?;
                        let o = if self.eat_kw("desc") {
                            Order::Desc
                        } else {
                            self.eat_kw("asc");
                            Order::Asc
                        };
                        orders.push((c, o));
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.sym(")")?;
                } else if self.eat_kw("compact") {
                    return Err(CqlError::invalid("COMPACT STORAGE is not supported by cql-standin"));
                } else {
                    let opt = self.ident()?;
                    self.sym("=")?;
                    let v = self.literal()?;
                    if opt == "default_time_to_live" {
                        let Literal::Int(n) = v else {
                            return Err(CqlError::syntax("default_time_to_live must be a whole number of seconds"));
                        };
                        default_ttl = i32::try_from(n)
                            .ok()
                            .filter(|n| *n >= 0)
                            .ok_or_else(|| CqlError::invalid(format!("default_time_to_live {n} out of range")))?;
                    }
                }
                if !self.eat_kw("and") {
                    break;
                }
            }
        }
        if partition_key.is_empty() {
            return Err(CqlError::invalid("a table needs a PRIMARY KEY"));
        }
        let clustering = clustering_names
            .into_iter()
            .map(|c| {
                let o = orders.iter().find(|(n, _)| *n == c).map(|(_, o)| *o).unwrap_or(Order::Asc);
                (c, o)
            })
            .collect();
        Ok(Statement::CreateTable { table, if_not_exists, columns, partition_key, clustering, default_ttl })
    }

    fn literal(&mut self) -> Result<Literal, CqlError> {
        let tok = self.peek().cloned().ok_or_else(|| self.err("a value"))?;
        self.i += 1;
        Ok(match tok {
            Token::Str(s) => Literal::Str(s),
            Token::Number(n) => {
                if let Ok(i) = n.parse::<i64>() {
                    Literal::Int(i)
                } else {
                    Literal::Float(n.parse().map_err(|_| CqlError::syntax(format!("bad number `{n}`")))?)
                }
            }
            Token::Hex(h) => Literal::Hex(h),
            Token::Uuid(u) => Literal::Uuid(u),
            Token::Ident(w) if w == "true" => Literal::Bool(true),
            Token::Ident(w) if w == "false" => Literal::Bool(false),
            Token::Ident(w) if w == "null" => Literal::Null,
            Token::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.literal()?);
                        if !self.eat_sym(",") {
                            break;
                        }
                    }
                    self.sym("]")?;
                }
                Literal::Collection(items)
            }
            Token::Sym("{") => {
                if self.eat_sym("}") {
                    return Ok(Literal::Map(Vec::new()));
                }
                let first = self.literal()?;
                if self.eat_sym(":") {
                    let mut pairs = vec![(first, self.literal()?)];
                    while self.eat_sym(",") {
                        let k = self.literal()?;
                        self.sym(":")?;
                        pairs.push((k, self.literal()?));
                    }
                    self.sym("}")?;
                    Literal::Map(pairs)
                } else {
                    let mut items = vec![first];
                    while self.eat_sym(",") {
                        items.push(self.literal()?);
                    }
                    self.sym("}")?;
                    Literal::Collection(items)
                }
            }
            _ => {
                self.i -= 1;
                return Err(self.err("a value"));
            }
        })
    }

    fn term(&mut self) -> Result<Term, CqlError> {
        if matches!(self.peek(), Some(Token::Marker)) {
            self.i += 1;
            self.markers += 1;
            return Ok(Term::Marker(self.markers - 1));
        }
        Ok(Term::Literal(self.literal()?))
    }

    /// `USING TTL t [AND TIMESTAMP t]`
    fn using(&mut self) -> Result<(Option<Term>, Option<Term>), CqlError> {
        let (mut ttl, mut ts) = (None, None);
        if self.eat_kw("using") {
            loop {
                if self.eat_kw("ttl") {
                    ttl = Some(self.term()?);
                } else if self.eat_kw("timestamp") {
                    ts = Some(self.term()?);
                } else {
                    return Err(self.err("TTL or TIMESTAMP"));
                }
                if !self.eat_kw("and") {
                    break;
                }
            }
        }
        Ok((ttl, ts))
    }

    fn insert(&mut self) -> Result<Statement, CqlError> {
        self.kw("into")?;
        let table = self.table_ref()?;
        self.sym("(")?;
        let mut columns = Vec::new();
        loop {
            columns.push(self.ident()?);
            if !self.eat_sym(",") {
                break;
            }
        }
        self.sym(")")?;
        self.kw("values")?;
        self.sym("(")?;
        let mut values = Vec::new();
        loop {
            values.push(self.term()?);
            if !self.eat_sym(",") {
                break;
            }
        }
        self.sym(")")?;
        if columns.len() != values.len() {
            return Err(CqlError::invalid(format!("{} columns but {} values", columns.len(), values.len())));
        }
        if self.is_kw("if") {
            return Err(CqlError::invalid("lightweight transactions (IF NOT EXISTS on INSERT) are not supported by cql-standin"));
        }
        let (ttl, timestamp) = self.using()?;
        Ok(Statement::Insert { table, columns, values, ttl, timestamp })
    }

    fn update(&mut self) -> Result<Statement, CqlError> {
        let table = self.table_ref()?;
        let (ttl, timestamp) = self.using()?;
        self.kw("set")?;
        let mut set = Vec::new();
        loop {
            let c = self.ident()?;
            self.sym("=")?;
            set.push((c, self.term()?));
            if !self.eat_sym(",") {
                break;
            }
        }
        let where_ = self.where_clause()?;
        Ok(Statement::Update { table, set, where_, ttl, timestamp })
    }

    fn delete(&mut self) -> Result<Statement, CqlError> {
        let mut columns = Vec::new();
        if !self.is_kw("from") {
            loop {
                columns.push(self.ident()?);
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        self.kw("from")?;
        let table = self.table_ref()?;
        let where_ = self.where_clause()?;
        Ok(Statement::Delete { columns, table, where_ })
    }

    fn where_clause(&mut self) -> Result<Vec<Relation>, CqlError> {
        let mut rels = Vec::new();
        if !self.eat_kw("where") {
            return Ok(rels);
        }
        loop {
            let col = self.ident()?;
            if self.eat_kw("in") {
                if matches!(self.peek(), Some(Token::Marker)) {
                    self.i += 1;
                    self.markers += 1;
                    rels.push(Relation::In(col, InValues::Marker(self.markers - 1)));
                } else {
                    self.sym("(")?;
                    let mut terms = Vec::new();
                    if !self.eat_sym(")") {
                        loop {
                            terms.push(self.term()?);
                            if !self.eat_sym(",") {
                                break;
                            }
                        }
                        self.sym(")")?;
                    }
                    rels.push(Relation::In(col, InValues::Terms(terms)));
                }
            } else {
                let op = match self.peek() {
                    Some(Token::Sym("=")) => Op::Eq,
                    Some(Token::Sym("<")) => Op::Lt,
                    Some(Token::Sym("<=")) => Op::Le,
                    Some(Token::Sym(">")) => Op::Gt,
                    Some(Token::Sym(">=")) => Op::Ge,
                    _ => return Err(self.err("=, <, <=, >, >= or IN")),
                };
                self.i += 1;
                rels.push(Relation::Compare(col, op, self.term()?));
            }
            if !self.eat_kw("and") {
                break;
            }
        }
        Ok(rels)
    }

    fn select(&mut self) -> Result<Statement, CqlError> {
        if self.eat_kw("json") || self.eat_kw("distinct") {
            return Err(CqlError::invalid("SELECT JSON/DISTINCT is not supported by cql-standin"));
        }
        let selectors = if self.eat_sym("*") {
            None
        } else {
            let mut sels = Vec::new();
            loop {
                let name = self.ident()?;
                let sel = if self.eat_sym("(") {
                    let s = match name.as_str() {
                        "count" => {
                            if !self.eat_sym("*") {
                                self.literal()?;
                            }
                            Selector::Count
                        }
                        "ttl" => Selector::Ttl(self.ident()?),
                        "writetime" => Selector::WriteTime(self.ident()?),
                        f => return Err(CqlError::invalid(format!("function {f}() is not supported by cql-standin"))),
                    };
                    self.sym(")")?;
                    s
                } else {
                    Selector::Column(name)
                };
                if self.eat_kw("as") {
                    return Err(CqlError::invalid("column aliases (AS) are not supported by cql-standin"));
                }
                sels.push(sel);
                if !self.eat_sym(",") {
                    break;
                }
            }
            Some(sels)
        };
        self.kw("from")?;
        let table = self.table_ref()?;
        let where_ = self.where_clause()?;
        let mut order_by = Vec::new();
        if self.eat_kw("order") {
            self.kw("by")?;
            loop {
                let c = self.ident()?;
                let o = if self.eat_kw("desc") {
                    Order::Desc
                } else {
                    self.eat_kw("asc");
                    Order::Asc
                };
                order_by.push((c, o));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("limit") { Some(self.term()?) } else { None };
        if self.eat_kw("allow") {
            self.kw("filtering")?;
        }
        Ok(Statement::Select { table, selectors, where_, order_by, limit })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_create_table_with_options() {
        let s = parse(
            "CREATE TABLE IF NOT EXISTS ks.h (host text, day text, ws timestamp, n bigint, hosts set<text>, \
             PRIMARY KEY ((host, day), ws)) WITH CLUSTERING ORDER BY (ws DESC) AND default_time_to_live = 3600 \
             AND comment = 'x' AND compaction = {'class': 'TimeWindowCompactionStrategy'};",
        )
        .unwrap();
        let Statement::CreateTable { partition_key, clustering, default_ttl, columns, .. } = s else { panic!() };
        assert_eq!(partition_key, vec!["host", "day"]);
        assert_eq!(clustering, vec![("ws".to_string(), Order::Desc)]);
        assert_eq!(default_ttl, 3600);
        assert_eq!(columns[4].1, CqlType::Set(Box::new(CqlType::Text)));
    }

    #[test]
    fn numbers_markers_in_order() {
        let s = parse("SELECT a, ttl(b) FROM t WHERE k = ? AND c >= ? AND c < 5 ORDER BY c DESC LIMIT ?").unwrap();
        let Statement::Select { where_, limit, selectors, .. } = s else { panic!() };
        assert_eq!(where_[0], Relation::Compare("k".into(), Op::Eq, Term::Marker(0)));
        assert_eq!(where_[1], Relation::Compare("c".into(), Op::Ge, Term::Marker(1)));
        assert_eq!(limit, Some(Term::Marker(2)));
        assert_eq!(selectors.unwrap()[1], Selector::Ttl("b".into()));
        let s = parse("INSERT INTO t (a, b) VALUES (?, 'x') USING TTL ?").unwrap();
        assert!(matches!(s, Statement::Insert { ttl: Some(Term::Marker(1)), .. }));
    }

    #[test]
    fn driver_metadata_queries_parse() {
        for q in [
            "SELECT host_id, rpc_address, data_center, rack, tokens, cluster_name FROM system.local WHERE key='local'",
            "SELECT keyspace_name, replication, durable_writes FROM system_schema.keyspaces where keyspace_name in ?",
            "USE \"MyKs\"",
        ] {
            parse(q).unwrap();
        }
        assert!(parse("SELECT FROM").is_err());
    }

    #[test]
    fn splits_scripts() {
        let parts = split_script("-- a; comment\nCREATE KEYSPACE k WITH x = 'a;b';\n\nUSE k;  ");
        assert_eq!(parts, vec!["CREATE KEYSPACE k WITH x = 'a;b'", "USE k"]);
    }
}
