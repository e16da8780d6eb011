//! `rocknet-linkmodel`: the relay binary (arrives with the link-model issue).
fn main() -> anyhow::Result<()> {
    anyhow::bail!("the link-model relay is not implemented yet")
}
