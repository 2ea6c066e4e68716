use super::*;

fn check(input: &str, expect: &str) {
    assert_eq!(redact(input), expect, "{input}");
}

#[test]
fn urls() {
    check(
        "mysql://root:pw@127.0.0.1:3306/test",
        "mysql://root:***@127.0.0.1:3306/test",
    );
    check("mysql://root@127.0.0.1/test", "mysql://root@127.0.0.1/test");
    check("mysql://127.0.0.1:3306", "mysql://127.0.0.1:3306");
    check(
        "a mysql://u:p@h and mysql://v:q@k?ssl=1",
        "a mysql://u:***@h and mysql://v:***@k?ssl=1",
    );
    check("mysql://u:p:a@ss@h/db", "mysql://u:***@h/db");
    check(
        "mysql://app:s3cret@db:3306/shop?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem&ssl-cert=/c.pem&ssl-key=/k.pem",
        "mysql://app:***@db:3306/shop?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem&ssl-cert=/c.pem&ssl-key=/k.pem",
    );
    check("no url here", "no url here");
    check("trailing ://", "trailing ://");
}

#[test]
fn identified_by() {
    check(
        "CREATE USER 'a'@'%' IDENTIFIED BY 'x y z'",
        "CREATE USER 'a'@'%' IDENTIFIED BY '***'",
    );
    check(
        "alter user a identified by \"q\" password expire",
        "alter user a identified by \"***\" password expire",
    );
    check("IDENTIFIED BY 'unterminated", "IDENTIFIED BY '***");
    check("IDENTIFIED BY", "IDENTIFIED BY");
    check("identified by PASSWORD", "identified by PASSWORD");
    check("é IDENTIFIED BY 'ü' é", "é IDENTIFIED BY '***' é");
}
