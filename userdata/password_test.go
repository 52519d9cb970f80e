package userdata

// PasswordSpecialCharacters is the special-character set of the backend store's generated
// password (components.PasswordSpecialCharacters, where the generator's alphabet lives; the
// components test TestPasswordAlphabetMatchesUserdataTests keeps this copy equal). The password
// never reaches the user data: the tests here use the alphabet to prove that any password the
// generator can produce reaches PostgreSQL intact through PGPASSWORD.
const PasswordSpecialCharacters = "!#$%&*()-_=+[]{}<>:?^~.,;|"
