pub fn foo() {}
pub fn sneaky() {}
