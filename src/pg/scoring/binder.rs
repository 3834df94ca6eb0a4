//! The one name -> position binder of the scoring paths: the row path (model inputs ->
//! attributes of the row's tuple descriptor), the planner rewrite (model inputs -> attnums of
//! the relation) and the column path (model inputs -> positions in the plan's column-name
//! array). Pure: no PostgreSQL access; each caller lists what it has and turns the error into
//! its own message.

/// A model input column that none of the available columns carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnboundColumn<'m> {
    /// Its index among the model's inputs.
    pub input: usize,
    pub column: &'m str,
}

/// For each of `inputs` (the model's input columns, in input order), the position of the
/// available column of that name. `available` yields (name, position) pairs, dropped columns
/// already left out by the caller; the first pair of a name wins. Inputs may repeat a column
/// (both get its position). An input no pair names is the error, the first in input order.
///
/// One pass over `available`, comparing each name with the inputs still unbound: done once per
/// call site or plan, never per row.
pub fn bind_inputs<'m, 'a>(
    inputs: &[&'m str],
    available: impl IntoIterator<Item = (&'a str, usize)>,
) -> Result<Vec<usize>, UnboundColumn<'m>> {
    let mut positions: Vec<Option<usize>> = vec![None; inputs.len()];
    let mut unbound = inputs.len();
    for (name, position) in available {
        if unbound == 0 {
            break;
        }
        for (slot, input) in positions.iter_mut().zip(inputs) {
            if slot.is_none() && *input == name {
                *slot = Some(position);
                unbound -= 1;
            }
        }
    }
    positions
        .iter()
        .zip(inputs)
        .enumerate()
        .map(|(input, (slot, column))| slot.ok_or(UnboundColumn { input, column }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_each_input_to_the_first_column_of_its_name() {
        let available = [("a", 0), ("x5", 1), ("x12", 2), ("x5", 7)];
        assert_eq!(bind_inputs(&["x12", "x5"], available), Ok(vec![2, 1]));
        assert_eq!(bind_inputs(&["x5", "x5"], available), Ok(vec![1, 1]));
        assert_eq!(bind_inputs(&[], available), Ok(vec![]));
    }

    #[test]
    fn names_the_first_unbound_input() {
        let available = [("x5", 3)];
        assert_eq!(
            bind_inputs(&["x5", "x81", "x91"], available),
            Err(UnboundColumn {
                input: 1,
                column: "x81"
            })
        );
    }
}
