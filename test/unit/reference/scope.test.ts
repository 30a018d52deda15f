import {expect} from 'chai'

import {CATALOG_SCOPE, repositoryScope} from '../../../src/reference/scope.js'

describe('token scopes (src/reference/scope.ts)', () => {
  it('name the repository and the actions, in one order whatever the order asked', () => {
    expect(repositoryScope('library/alpine', ['pull'])).to.equal('repository:library/alpine:pull')
    expect(repositoryScope('team/app', ['push', 'pull'])).to.equal('repository:team/app:pull,push')
    expect(repositoryScope('team/app', ['delete', 'pull', 'pull'])).to.equal('repository:team/app:pull,delete')
  })

  it('refuse a scope without actions, and spell the catalog scope as distribution does', () => {
    expect(() => repositoryScope('team/app', [])).to.throw(/at least one action/)
    expect(CATALOG_SCOPE).to.equal('registry:catalog:*')
  })
})
