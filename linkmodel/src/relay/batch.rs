//! Sending a round's bundles in one system call: `sendmmsg` (Linux; other
//! systems send one datagram per call).

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Most datagrams handed to one `sendmmsg` (Linux's `UIO_MAXIOV`).
const MAX_BATCH: usize = 1024;

/// Sends datagrams from the start of `datagrams` on the non-blocking
/// socket `sock`; returns how many went out (at least one), or the error of
/// the first one (`WouldBlock` when the socket buffer is full).
pub(super) fn send_some(
    sock: &impl AsRawFd,
    datagrams: &[(SocketAddr, Vec<u8>)],
) -> io::Result<usize> {
    use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, sendmmsg};
    use std::io::IoSlice;

    let batch = &datagrams[..datagrams.len().min(MAX_BATCH)];
    let slices: Vec<[IoSlice<'_>; 1]> = batch.iter().map(|(_, b)| [IoSlice::new(b)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = batch
        .iter()
        .map(|(a, _)| Some(SockaddrStorage::from(*a)))
        .collect();
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(batch.len(), None);
    let sent = sendmmsg(
        sock.as_raw_fd(),
        &mut headers,
        &slices,
        &addrs,
        [],
        MsgFlags::empty(),
    )?;
    Ok(sent.count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    /// Several datagrams to several receivers in one call arrive intact and
    /// in order; an oversize one stops the batch before it and then fails
    /// alone.
    #[test]
    fn one_call_sends_many_and_an_oversize_datagram_fails_alone() {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.set_nonblocking(true).unwrap();
        let rx: Vec<UdpSocket> = (0..2)
            .map(|_| {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                s
            })
            .collect();
        let at = |i: usize| rx[i].local_addr().unwrap();
        let datagrams = vec![
            (at(0), vec![1u8; 10]),
            (at(1), vec![2u8; 2000]),
            (at(0), vec![3u8; 1]),
            (at(1), vec![4u8; 70_000]),
            (at(1), vec![5u8; 5]),
        ];
        assert_eq!(send_some(&tx, &datagrams).unwrap(), 3);
        assert!(
            send_some(&tx, &datagrams[3..]).is_err(),
            "70,000 B is no datagram"
        );
        assert_eq!(send_some(&tx, &datagrams[4..]).unwrap(), 1);
        let mut buf = [0u8; 4096];
        let mut got = |i: usize| {
            let n = rx[i].recv(&mut buf).unwrap();
            buf[..n].to_vec()
        };
        assert_eq!(got(0), vec![1u8; 10]);
        assert_eq!(got(0), vec![3u8; 1]);
        assert_eq!(got(1), vec![2u8; 2000]);
        assert_eq!(got(1), vec![5u8; 5]);
    }
}
