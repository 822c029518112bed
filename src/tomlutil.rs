//! Format-preserving TOML edits shared by init (spec overrides, buildkitd.toml merge) and
//! doctor's fixes: change a value, keep the user's layout and comments around it.

use toml_edit::{Array, Item, Table, Value};

/// Sets `key` to `value` unless it already holds an equal value. A replaced value keeps
/// its decor (spacing and trailing comment), so `names = [...]  # why` keeps `# why`.
pub(crate) fn set(table: &mut dyn toml_edit::TableLike, key: &str, value: Value) {
    let same = table
        .get(key)
        .and_then(Item::as_value)
        .is_some_and(|v| same_value(v, &value));
    if same {
        return;
    }
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            let decor = old.decor().clone();
            *old = value;
            *old.decor_mut() = decor;
        }
        None => {
            table.insert(key, Item::Value(value));
        }
    }
}

/// A TOML array of strings.
pub(crate) fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(AsRef::as_ref).collect::<Array>())
}

/// Semantic equality, ignoring formatting.
pub(crate) fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_value(p, q))
        }
        (Value::String(x), Value::String(y)) => x.value() == y.value(),
        (Value::Boolean(x), Value::Boolean(y)) => x.value() == y.value(),
        (Value::Integer(x), Value::Integer(y)) => x.value() == y.value(),
        _ => false,
    }
}

/// The table at `key`, created (implicit or not) when absent; `None` when `key` holds
/// something other than a table, which callers must refuse rather than overwrite.
pub(crate) fn table<'a>(parent: &'a mut Table, key: &str, implicit: bool) -> Option<&'a mut Table> {
    parent
        .entry(key)
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(implicit);
            Item::Table(t)
        })
        .as_table_mut()
}
