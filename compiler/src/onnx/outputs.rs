use std::collections::HashMap;

use onnx_protobuf::{
    attribute_proto::AttributeType, tensor_proto::DataType, type_proto, GraphProto, ModelProto, NodeProto, TypeProto,
    ValueInfoProto,
};

use super::OnnxError;

/// A copy of `model` that also exposes the tensors named in `tensors` as graph outputs,
/// appended after the existing outputs in the order given, typed with their element type
/// (shape left to the runtime). Names already among the outputs are skipped. Each name must
/// be the output of a node; otherwise [`OnnxError::Unsupported`] naming it.
pub fn expose_tensors(model: &ModelProto, tensors: &[String]) -> Result<ModelProto, OnnxError> {
    let mut out = model.clone();
    let graph = out.graph.as_mut().ok_or_else(|| OnnxError::Decode("model has no graph".into()))?;
    let types: HashMap<String, i32> = element_types(graph).into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    for name in tensors {
        if graph.output.iter().any(|o| &o.name == name) {
            continue;
        }
        if !graph.node.iter().any(|n| n.output.contains(name)) {
            return Err(OnnxError::Unsupported(format!("tensor `{name}` is not produced by any node")));
        }
        let mut tensor = type_proto::Tensor::new();
        tensor.elem_type = types.get(name).copied().unwrap_or(DataType::FLOAT as i32);
        let mut ty = TypeProto::new();
        ty.value = Some(type_proto::Value::TensorType(tensor));
        let mut vi = ValueInfoProto::new();
        vi.name = name.clone();
        vi.type_ = Some(ty).into();
        graph.output.push(vi);
    }
    Ok(out)
}

/// Element type of every tensor, propagated forward through the nodes (graph order).
fn element_types(graph: &GraphProto) -> HashMap<&str, i32> {
    let mut types: HashMap<&str, i32> = HashMap::new();
    for vi in &graph.input {
        if let Some(type_proto::Value::TensorType(t)) = vi.type_.as_ref().and_then(|ty| ty.value.as_ref()) {
            types.insert(&vi.name, t.elem_type);
        }
    }
    for t in &graph.initializer {
        types.insert(&t.name, t.data_type);
    }
    for n in &graph.node {
        if let Some(ty) = output_type(n, &types) {
            for o in &n.output {
                types.insert(o, ty);
            }
        }
    }
    types
}

fn output_type(n: &NodeProto, types: &HashMap<&str, i32>) -> Option<i32> {
    let input = |i: usize| n.input.get(i).and_then(|name| types.get(name.as_str())).copied();
    match n.op_type.as_str() {
        "QuantizeLinear" => input(2).or(Some(DataType::UINT8 as i32)),
        "QLinearConv" | "QLinearMatMul" => input(7),
        "DequantizeLinear" => input(1),
        "MatMulInteger" | "ConvInteger" => Some(DataType::INT32 as i32),
        "Cast" => n
            .attribute
            .iter()
            .find(|a| a.name == "to" && a.type_.enum_value() == Ok(AttributeType::INT))
            .map(|a| a.i as i32),
        "Constant" => n.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref()).map(|t| t.data_type),
        _ => input(0),
    }
}
