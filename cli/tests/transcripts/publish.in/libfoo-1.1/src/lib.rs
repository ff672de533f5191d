pub fn foo() {}
pub fn foo2() {}
