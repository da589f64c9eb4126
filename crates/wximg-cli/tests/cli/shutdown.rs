//! Graceful shutdown: SIGTERM lets an upload that is still being sent finish, and the
//! server then exits cleanly.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use crate::support::{Backend, Server, create_app};

fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 9, y as u8 * 9, 7]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

#[test]
fn sigterm_finishes_in_flight_uploads() {
    let data = tempfile::tempdir().expect("tempdir");
    let app = create_app(Backend::Embedded(data.path()), "official");
    let mut server = Server::start(Backend::Embedded(data.path()), &[]);
    let addr = server.addr();

    let mut s = TcpStream::connect(&addr).expect("connect");
    let token_req = format!(
        "GET /cgi-bin/token?grant_type=client_credential&appid={}&secret={} HTTP/1.1\r\nHost: x\r\n\r\n",
        app.appid, app.secret
    );
    s.write_all(token_req.as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).to_string();
    let json_start = head.find('{').expect("token body");
    let token: serde_json::Value =
        serde_json::from_str(head[json_start..].trim()).expect("token JSON");
    let token = token["access_token"].as_str().unwrap().to_string();

    // An upload whose body is half sent when SIGTERM arrives.
    let png = tiny_png();
    let mut body =
        b"--b\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.png\"\r\n\r\n"
            .to_vec();
    body.extend(&png);
    body.extend(b"\r\n--b--\r\n");
    let mut up = TcpStream::connect(&addr).expect("connect");
    up.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "POST /cgi-bin/media/uploadimg?access_token={token} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    up.write_all(head.as_bytes()).unwrap();
    let half = body.len() / 2;
    up.write_all(&body[..half]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    up.write_all(&body[half..]).unwrap();
    let mut answer = String::new();
    let mut reader = BufReader::new(up);
    // Read the head, then the JSON body.
    let mut content_length = 0usize;
    loop {
        let mut l = String::new();
        reader.read_line(&mut l).expect("response line");
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            content_length = v.trim().parse().expect("length");
        }
        if l == "\r\n" || l.is_empty() {
            break;
        }
    }
    let mut json = vec![0u8; content_length];
    reader.read_exact(&mut json).expect("body");
    answer.push_str(&String::from_utf8_lossy(&json));
    let v: serde_json::Value = serde_json::from_str(&answer).expect("JSON answer");
    assert_eq!(
        v["errcode"], 0,
        "the in-flight upload completes after SIGTERM: {v}"
    );

    let status = server.child.wait().expect("exit");
    assert!(status.success(), "clean exit after SIGTERM: {status}");
    assert!(TcpStream::connect(&addr).is_err(), "no longer listening");
}
