//! The future of a layer that either refuses at once or calls the inner service.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use pin_project_lite::pin_project;

pin_project! {
    /// Either the inner service's future or a refusal that is ready now; no boxing.
    #[derive(Debug)]
    pub struct RefusedOrInner<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F, B> {
        Inner { #[pin] fut: F },
        Refused { res: Option<Response<B>> },
    }
}

impl<F, B> RefusedOrInner<F, B> {
    /// A future that resolves to `res` at once.
    pub fn refused(res: Response<B>) -> Self {
        RefusedOrInner {
            state: State::Refused { res: Some(res) },
        }
    }

    /// A future that polls `fut`.
    pub fn inner(fut: F) -> Self {
        RefusedOrInner {
            state: State::Inner { fut },
        }
    }
}

impl<F, B, E> Future for RefusedOrInner<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { fut } => fut.poll(cx),
            StateProj::Refused { res } => match res.take() {
                Some(r) => Poll::Ready(Ok(r)),
                // Polled after completion: a caller's mistake, answered without panicking.
                None => Poll::Pending,
            },
        }
    }
}

/// A boxed, `Send` future, for layers that must await something (a body, a key fetch).
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;
