//! `#[curing::main]` and `#[curing::test]`: run an `async fn` on a fresh
//! curing runtime. Use them through the `curing` crate (default feature
//! `macros`), not this one: the code they generate names `::curing`.
//!
//! Both accept no arguments; for ring sizes or flags build a
//! `curing::Runtime` yourself.

use proc_macro::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::ItemFn;

/// Runs `async fn main` on a curing runtime on the main thread.
///
/// ```ignore
/// #[curing::main]
/// async fn main() -> std::io::Result<()> {
///     let file = curing::fs::File::open("/etc/hostname").await?;
///     file.close().await
/// }
/// ```
///
/// expands to a plain `fn main() -> std::io::Result<()>` whose body is
/// `curing::run(async move { ... })`. `curing::run` panics with a clear
/// message if io_uring is unavailable.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Main)
}

/// Runs an `async fn` test on a fresh curing runtime (one per test).
///
/// ```ignore
/// #[curing::test]
/// async fn sleeps() {
///     curing::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// expands to a `#[test] fn` whose body is `curing::run(async move { ... })`.
/// Other attributes (`#[ignore]`, `#[should_panic]`) and a `Result` return
/// type work as on any test.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Test)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let name = match kind {
        Kind::Main => "curing::main",
        Kind::Test => "curing::test",
    };
    if !args.is_empty() {
        let args = proc_macro2::TokenStream::from(args);
        let msg = format!("#[{name}] takes no arguments; build a curing::Runtime for options");
        return quote_spanned!(args.span()=> compile_error!(#msg);).into();
    }
    let func = match syn::parse::<ItemFn>(item) {
        Ok(f) => f,
        Err(e) => return e.to_compile_error().into(),
    };
    if let Err(e) = check(&func, kind, name) {
        return e.to_compile_error().into();
    }
    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    sig.asyncness = None;
    let test_attr = match kind {
        Kind::Test => quote!(#[::core::prelude::v1::test]),
        Kind::Main => quote!(),
    };
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            let body = async move #block;
            ::curing::run(body)
        }
    }
    .into()
}

fn check(func: &ItemFn, kind: Kind, name: &str) -> syn::Result<()> {
    let sig = &func.sig;
    if sig.asyncness.is_none() {
        return Err(syn::Error::new(
            sig.fn_token.span(),
            format!("#[{name}] goes on an `async fn`"),
        ));
    }
    if !sig.inputs.is_empty() {
        return Err(syn::Error::new(
            sig.inputs.span(),
            format!("#[{name}] functions take no arguments"),
        ));
    }
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(
            sig.generics.span(),
            format!("#[{name}] functions cannot be generic"),
        ));
    }
    if kind == Kind::Main && sig.ident != "main" {
        return Err(syn::Error::new(
            sig.ident.span(),
            "#[curing::main] goes on `async fn main`; use #[curing::test] for tests",
        ));
    }
    if kind == Kind::Test {
        if let Some(attr) = func.attrs.iter().find(|a| a.path().is_ident("test")) {
            return Err(syn::Error::new(
                attr.span(),
                "#[curing::test] already adds #[test]; remove this one",
            ));
        }
    }
    Ok(())
}
