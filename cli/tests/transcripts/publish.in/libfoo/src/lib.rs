pub fn foo() {}
