//! Deserializing the model straight from a [`Node`], as serde_json
//! deserializes it from a `&Value` (`value/de.rs`, `impl Deserializer for
//! &Value`): the same visits for the same trees, so the same results and,
//! with `serde_json::Error` as the error, the same messages; only without
//! building the value first.

use super::node::Node;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    DeserializeSeed, EnumAccess, Error as _, MapAccess, SeqAccess, Unexpected, VariantAccess,
    Visitor,
};
use serde::forward_to_deserialize_any;
use serde_json::Error;

impl<'t> Node<'t> {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Node::Null => Unexpected::Unit,
            Node::Bool(b) => Unexpected::Bool(*b),
            Node::U64(u) => Unexpected::Unsigned(*u),
            Node::I64(i) => Unexpected::Signed(*i),
            Node::F64(f) => Unexpected::Float(*f),
            Node::Str(s) => Unexpected::Str(s),
            Node::Seq(_) => Unexpected::Seq,
            Node::Map(_) => Unexpected::Map,
        }
    }

    fn invalid_type<'de, V: Visitor<'de>>(&self, visitor: &V) -> Error {
        Error::invalid_type(self.unexpected(), visitor)
    }
}

fn visit_seq<'de, 't: 'de, V: Visitor<'de>>(
    items: &'de [Node<'t>],
    visitor: V,
) -> Result<V::Value, Error> {
    let mut seq = Items(items.iter());
    let value = visitor.visit_seq(&mut seq)?;
    if seq.0.len() == 0 {
        Ok(value)
    } else {
        Err(Error::invalid_length(
            items.len(),
            &"fewer elements in array",
        ))
    }
}

fn visit_map<'de, 't: 'de, V: Visitor<'de>>(
    entries: &'de [(std::borrow::Cow<'t, str>, Node<'t>)],
    visitor: V,
) -> Result<V::Value, Error> {
    let mut map = Entries {
        iter: entries.iter(),
        value: None,
    };
    let value = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(value)
    } else {
        Err(Error::invalid_length(
            entries.len(),
            &"fewer elements in map",
        ))
    }
}

/// A number node as serde_json's `Number::deserialize_any` visits it.
macro_rules! number {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self {
                Node::U64(u) => visitor.visit_u64(*u),
                Node::I64(i) => visitor.visit_i64(*i),
                Node::F64(f) => visitor.visit_f64(*f),
                _ => Err(self.invalid_type(&visitor)),
            }
        }
    )*};
}

impl<'de, 't: 'de> serde::Deserializer<'de> for &'de Node<'t> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Bool(b) => visitor.visit_bool(*b),
            Node::U64(u) => visitor.visit_u64(*u),
            Node::I64(i) => visitor.visit_i64(*i),
            Node::F64(f) => visitor.visit_f64(*f),
            Node::Str(s) => visitor.visit_borrowed_str(s),
            Node::Seq(items) => visit_seq(items, visitor),
            Node::Map(entries) => visit_map(entries, visitor),
        }
    }

    number!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_u8
        deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f32 deserialize_f64);

    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Map(entries) => match entries.as_slice() {
                [(variant, value)] => visitor.visit_enum(Variant {
                    name: variant,
                    value: Some(value),
                }),
                _ => Err(Error::invalid_value(
                    Unexpected::Map,
                    &"map with a single key",
                )),
            },
            Node::Str(variant) => visitor.visit_enum(Variant {
                name: variant,
                value: None,
            }),
            other => Err(Error::invalid_type(other.unexpected(), &"string or map")),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Bool(b) => visitor.visit_bool(*b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Str(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Str(s) => visitor.visit_borrowed_str(s),
            Node::Seq(items) => visit_seq(items, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Seq(items) => visit_seq(items, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self {
            Node::Map(entries) => visit_map(entries, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self {
            Node::Seq(items) => visit_seq(items, visitor),
            Node::Map(entries) => visit_map(entries, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct Items<'de, 't>(std::slice::Iter<'de, Node<'t>>);

impl<'de, 't: 'de> SeqAccess<'de> for Items<'de, 't> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Entries<'de, 't> {
    iter: std::slice::Iter<'de, (std::borrow::Cow<'t, str>, Node<'t>)>,
    value: Option<&'de Node<'t>>,
}

impl<'de, 't: 'de> MapAccess<'de> for Entries<'de, 't> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(Key(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// A mapping key, as serde_json's `MapKeyDeserializer` reads one: a string,
/// or a number written as one for a numeric key type.
struct Key<'de>(&'de str);

macro_rules! numeric_key {
    ($($method:ident => $visit:ident: $ty:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            match self.0.parse::<$ty>() {
                Ok(n) => visitor.$visit(n),
                Err(_) => Err(Error::invalid_type(Unexpected::Str(self.0), &visitor)),
            }
        }
    )*};
}

impl<'de> serde::Deserializer<'de> for Key<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_str(self.0)
    }

    numeric_key!(deserialize_i8 => visit_i8: i8, deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32, deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8, deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32, deserialize_u64 => visit_u64: u64);

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        BorrowedStrDeserializer::<Error>::new(self.0).deserialize_enum(name, variants, visitor)
    }

    forward_to_deserialize_any! {
        bool i128 u128 f32 f64 char str string bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier ignored_any
    }
}

struct Variant<'de, 't> {
    name: &'de str,
    value: Option<&'de Node<'t>>,
}

impl<'de, 't: 'de> EnumAccess<'de> for Variant<'de, 't> {
    type Error = Error;
    type Variant = VariantValue<'de, 't>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.name))
            .map(|v| (v, VariantValue { value: self.value }))
    }
}

struct VariantValue<'de, 't> {
    value: Option<&'de Node<'t>>,
}

impl<'de, 't: 'de> VariantAccess<'de> for VariantValue<'de, 't> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            Some(value) => serde::Deserialize::deserialize(value),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.value {
            Some(value) => seed.deserialize(value),
            None => Err(Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(Node::Seq(items)) if items.is_empty() => visitor.visit_unit(),
            Some(Node::Seq(items)) => visit_seq(items, visitor),
            Some(other) => Err(Error::invalid_type(other.unexpected(), &"tuple variant")),
            None => Err(Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Some(Node::Map(entries)) => visit_map(entries, visitor),
            Some(other) => Err(Error::invalid_type(other.unexpected(), &"struct variant")),
            None => Err(Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::Documents;
    use crate::config::model::{
        DestinationRuleSpec, GatewaySpec, Metadata, ServiceEntrySpec, VirtualServiceSpec,
    };
    use serde::de::DeserializeOwned;
    use std::fmt::Debug;

    /// From the node and from the value it stands for: the same result or
    /// the same error, with the same path.
    fn same<T: DeserializeOwned + Debug>(text: &str) {
        for document in Documents::new(text).expect("fast reader") {
            let node = document.expect("a document");
            let from_node = serde_path_to_error::deserialize::<_, T>(&node)
                .map(|v| format!("{v:?}"))
                .map_err(|e| format!("{} at {}", e.inner(), e.path()));
            let from_value = serde_path_to_error::deserialize::<_, T>(node.to_value())
                .map(|v| format!("{v:?}"))
                .map_err(|e| format!("{} at {}", e.inner(), e.path()));
            assert_eq!(from_node, from_value, "{text}");
        }
    }

    #[test]
    fn specs_read_from_nodes_as_from_values() {
        let vs = [
            "hosts: [a]\nhttp:\n- match: [{uri: {prefix: /x}, headers: {h: {exact: v}}}]\n  route: [{destination: {host: a, port: {number: 80}}, weight: 90}]\n  timeout: 5s\n  retries: {attempts: 3}\n",
            "hosts: [a]\nhttp:\n- timeout: 5\n",
            "hosts: a\n",
            "http: [{route: [{weight: -1}]}]\n",
            "http: [{route: [{weight: 1.5}]}]\n",
            "http: [{fault: {abort: {percentage: {value: 50}}}}]\n",
            "http: [{mirrorPercent: 300000000000}]\n",
            "tcp: [{match: [{port: x}]}]\n",
        ];
        for text in vs {
            same::<VirtualServiceSpec>(text);
        }
        for text in [
            "host: a\nsubsets: [{name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}]\n",
            "host: a\nsubsets: [{name: v1, labels: {version: 1}}]\n",
            "host: [a]\n",
        ] {
            same::<DestinationRuleSpec>(text);
        }
        for text in [
            "hosts: [a]\nports: [{number: 80, name: http}]\nendpoints: [{address: 1.2.3.4, ports: {http: 8080}, labels: {b: x, a: y}}]\n",
            "ports: [{number: '80'}]\n",
            "endpoints: [{ports: {http: -1}}]\n",
        ] {
            same::<ServiceEntrySpec>(text);
        }
        same::<GatewaySpec>("selector: {istio: ingress}\nservers: [{port: {number: 80, name: h, protocol: HTTP}, hosts: ['*']}]\n");
        same::<Metadata>("name: a\nnamespace: n\nlabels: {app: x}\nannotations: {k: v}\nuid: 1\n");
        same::<Metadata>("name: [a]\n");
    }
}
